"""costmux inside other software: today the LiteLLM proxy (:mod:`app.integrations.litellm_proxy`).

Importing this package imports nothing heavy and never imports LiteLLM: the proxy callback's class is built on
first access, inside the proxy. See docs/litellm-plugin.md.
"""
