"""Calibrate ``app.tokens`` against real byte-level BPE tokenizers (o200k_base, cl100k_base).

The corpus is generated deterministically from the seed material below (no downloads): English prose,
code in fourteen languages, Chinese/Japanese/Korean, numbers and tables, mixed documents, and accented /
Cyrillic European text, short (a few words) to long (tens of KB). Real counts come from ``tiktoken`` with
the encodings bundled in the LiteLLM proxy virtualenv, run as a subprocess, so this script itself runs
with the project's interpreter and needs no network.

Usage (from the repository root)::

    python bench/calibrate_tokens.py                      # report
    python bench/calibrate_tokens.py --write-fixture      # also rewrite tests/router/data/...jsonl
    python bench/calibrate_tokens.py --seeds 1-12         # held-out check on other corpora
    python bench/calibrate_tokens.py --fit                # least-squares coefficients (needs numpy)

``--tokenizer-python`` (or ``$COSTMUX_TOKENIZER_PYTHON``) names an interpreter that can ``import tiktoken``;
the default is the proxy virtualenv at ``/root/.cache/costmux/proxy-venv``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "router" / "data" / "token_calibration.jsonl"
DEFAULT_TOKENIZER_PYTHON = "/root/.cache/costmux/proxy-venv/bin/python"
SEED = 20240611
PER_CATEGORY = 70
LONG_TEXTS = 36
FIXTURE_MAX_BYTES = 3000  # the checked-in fixture keeps the short/medium texts up to this UTF-8 size

# --------------------------------------------------------------------------------------------- seed text

EN_SENTENCES = (
    "The quarterly report shows a steady increase in recurring revenue across all regions.",
    "Please make sure the deployment pipeline runs the integration tests before merging.",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "Our support team received several complaints about slow page loads on mobile devices.",
    "If the customer cancels within thirty days, they are entitled to a full refund.",
    "The committee postponed its decision until the environmental assessment is complete.",
    "She walked along the river at dawn, listening to the gulls and the distant traffic.",
    "Kubernetes schedules pods onto nodes according to resource requests and affinity rules.",
    "Idempotency keys prevent duplicate charges when a client retries a timed-out request.",
    "The museum's new wing houses a collection of early twentieth-century photography.",
    "Interest rates rose sharply, which cooled the housing market within a few months.",
    "Remember to back up your data before upgrading the operating system.",
    "In 1969, astronauts landed on the Moon and returned safely to Earth.",
    "The recipe calls for two cups of flour, a pinch of salt, and three eggs.",
    "Our hypothesis is that latency spikes correlate with garbage-collection pauses.",
    "He argued that the policy would disproportionately affect small businesses.",
    "Could you explain the difference between a process and a thread?",
    "The bridge was closed for repairs after inspectors found cracks in two support beams.",
    "Machine learning models can inherit biases present in their training data.",
    "Thank you for your patience while we investigate the billing discrepancy.",
    "The novel follows three generations of a family living on the Scottish coast.",
    "Vaccination campaigns have dramatically reduced the incidence of measles worldwide.",
    "Before signing the contract, review the termination clause and the liability cap.",
    "The algorithm runs in logarithmic time because it halves the search space each step.",
    "Volunteers planted over four hundred trees along the abandoned railway line.",
    "I'm not sure whether the meeting is on Tuesday or Wednesday; can you check?",
    "The telescope captured infrared images of a galaxy more than ten billion light-years away.",
    "Customers who enabled two-factor authentication reported fewer account takeovers.",
    "The orchestra's performance of the symphony received a standing ovation.",
    "We recommend rotating credentials every ninety days and auditing access logs weekly.",
    "Despite the storm, the ferry departed on schedule and arrived only slightly late.",
    "Economists disagree about whether the stimulus package caused the inflation spike.",
    "Write clear commit messages that explain why a change was made, not just what changed.",
    "The patient's symptoms improved after the dosage was adjusted.",
    "Renewable energy sources accounted for nearly a third of electricity generation last year.",
    "A well-designed API hides implementation details behind a small, stable interface.",
    "The children built a sandcastle with towers, a moat, and a drawbridge made of driftwood.",
    "Supply-chain disruptions delayed shipments of semiconductors for most of the year.",
    "Her dissertation examines migration patterns of Arctic terns over three decades.",
    "To reset your password, click the link in the email we just sent you.",
)

_EN_WORDS_TEXT = (
    "the of and to a in is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there been one all we their has would when if so no will more can "
    "about out up them some could into than other time only new also our these two may first then do "
    "any like my now over such most even made after many before must through back years where much "
    "your way well down should because each just those people how too little state good very make "
    "world still own see men work long get here between both life being under never day same another "
    "know while last might us great old year off come since against go came right used take three "
    "system program question government number public information development report business market "
    "company service customer product network security performance analysis strategy research quality "
    "different gift classic define difficult available particular environment management experience "
    "important significant community technology database application interface architecture latency "
    "throughput migration regulation hypothesis photosynthesis infrastructure accountability Copenhagen "
    "Mississippi Kubernetes PostgreSQL asynchronous idempotent serialization microservice onboarding "
    "quarterly revenue forecast budget invoice shipment warehouse inventory procurement compliance"
)
EN_WORDS = tuple(_EN_WORDS_TEXT.split())

EN_QUESTIONS = (
    "What is the capital of {w}?",
    "How do I {v} a {n} in Python?",
    "Why does my {n} keep failing after the update?",
    "Can you explain how {n} works?",
    "What's the difference between {n} and {m}?",
    "Is it safe to {v} the {n} while the server is running?",
    "Who wrote the first book about {n}?",
    "When should I use a {n} instead of a {m}?",
)
EN_INSTRUCTIONS = (
    "Write a short email to the team about the new {n} policy.",
    "Summarize the following paragraph in two sentences.",
    "Explain {n} to a ten-year-old.",
    "List five pros and cons of {n} for a small company.",
    "Draft a polite reply declining the invitation to the {n} workshop.",
    "Give me three ideas for a blog post about {n}.",
    "Compare {n} and {m} in terms of cost, speed and reliability.",
    "Rewrite this sentence to sound more formal:",
)
NOUNS = (
    "cache",
    "database",
    "queue",
    "contract",
    "budget",
    "vaccine",
    "telescope",
    "router",
    "invoice",
    "garden",
    "compiler",
    "load balancer",
    "neural network",
    "mortgage",
    "supply chain",
    "password",
    "spreadsheet",
    "microservice",
    "battery",
    "translation",
    "recipe",
    "dashboard",
    "firewall",
)
VERBS = ("parse", "sort", "merge", "reset", "deploy", "refactor", "encrypt", "cache", "validate", "export")
PLACES = ("France", "Kenya", "Peru", "Mongolia", "Australia", "Canada", "Vietnam", "Norway", "Chile")

ZH_SENTENCES = (
    "人工智能正在改变我们的生活方式。",
    "许多公司都在投入大量资源进行研究。",
    "今天的会议推迟到下午三点。",
    "请帮我把这段文字翻译成英文。",
    "这个函数的时间复杂度是多少？",
    "我们需要在月底之前完成项目的第一阶段。",
    "北京是中国的首都，也是政治和文化中心。",
    "他每天早上六点起床，然后去公园跑步。",
    "这本书讲述了一个关于友谊和成长的故事。",
    "如果明天下雨，我们就取消野餐。",
    "数据库查询速度太慢，需要添加索引。",
    "请问最近的地铁站怎么走？",
    "经济增长放缓引起了市场的广泛关注。",
    "学生们正在准备期末考试。",
    "这家餐厅的菜很好吃，但是价格有点贵。",
    "我们应该如何提高团队的工作效率？",
    "新版本修复了几个严重的安全漏洞。",
    "气候变化对农业生产产生了深远的影响。",
    "请在下周五之前提交你的报告。",
    "他对这个问题的分析非常透彻。",
    "用户反馈说登录页面加载很慢。",
    "这个城市的交通在高峰时段非常拥堵。",
    "我想预订两张去上海的火车票。",
    "研究表明，适量运动有益于身心健康。",
    "服务器在凌晨两点发生了故障。",
    "请用简单的语言解释量子计算的基本原理。",
    "春天来了，公园里的花都开了。",
    "我们的客户主要分布在东南亚地区。",
    "这篇文章的结构清晰，论点有力。",
    "你能推荐几本关于历史的好书吗？",
    "熊猫主要生活在四川的竹林里。",
    "小明昨天在图书馆借了三本小说。",
)
JA_SENTENCES = (
    "今日はとても良い天気ですね。",
    "明日も晴れるといいです。",
    "この資料を来週までに確認していただけますか。",
    "東京駅から新幹線で大阪に向かいました。",
    "新しいプロジェクトの計画を説明します。",
    "申し訳ございませんが、その商品は在庫切れです。",
    "彼女は毎朝コーヒーを飲みながら新聞を読みます。",
    "このプログラムにはバグがあるようです。",
    "日本の伝統文化に興味があります。",
    "会議の議事録を共有してください。",
    "週末は家族と一緒に京都へ旅行しました。",
    "データの分析結果を表にまとめました。",
    "お忙しいところ恐れ入りますが、ご返信をお願いします。",
    "この問題を解決するためには、もう少し時間が必要です。",
    "桜の花が満開になりました。",
    "パスワードを忘れた場合は、管理者に連絡してください。",
    "最近、リモートワークをする人が増えています。",
    "このレストランの寿司はとても新鮮です。",
    "機械学習のモデルを訓練するには大量のデータが必要です。",
    "駅の近くに新しいカフェができました。",
    "ご質問があれば、お気軽にお問い合わせください。",
    "子供たちは公園でサッカーをしています。",
    "今年の売上は前年比で十五パーセント増加しました。",
    "電車が遅れているので、少し遅刻します。",
    "この文章を英語に翻訳してください。",
)
KO_SENTENCES = (
    "안녕하세요, 오늘 날씨가 정말 좋네요.",
    "내일도 맑았으면 좋겠습니다.",
    "이 문서를 다음 주까지 검토해 주시겠어요?",
    "서울에서 부산까지 기차로 세 시간 정도 걸립니다.",
    "새로운 프로젝트 계획을 설명드리겠습니다.",
    "죄송하지만 그 상품은 품절되었습니다.",
    "그녀는 매일 아침 커피를 마시며 신문을 읽습니다.",
    "이 프로그램에 버그가 있는 것 같아요.",
    "한국의 전통 문화에 관심이 많습니다.",
    "회의록을 공유해 주세요.",
    "주말에 가족과 함께 제주도로 여행을 갔습니다.",
    "데이터 분석 결과를 표로 정리했습니다.",
    "바쁘신 와중에 죄송하지만 답변 부탁드립니다.",
    "이 문제를 해결하려면 시간이 조금 더 필요합니다.",
    "벚꽃이 활짝 피었습니다.",
    "비밀번호를 잊어버린 경우 관리자에게 문의하세요.",
    "요즘 재택근무를 하는 사람들이 늘고 있습니다.",
    "이 식당의 김치찌개는 정말 맛있어요.",
    "머신러닝 모델을 학습시키려면 많은 데이터가 필요합니다.",
    "역 근처에 새로운 카페가 생겼어요.",
    "궁금한 점이 있으시면 언제든지 연락 주세요.",
    "아이들이 공원에서 축구를 하고 있습니다.",
    "올해 매출은 작년 대비 십오 퍼센트 증가했습니다.",
    "지하철이 지연되어 조금 늦을 것 같습니다.",
    "이 문장을 영어로 번역해 주세요.",
)
EU_SENTENCES = {
    "es": (
        "El informe trimestral muestra un aumento constante de los ingresos en todas las regiones.",
        "¿Podrías explicarme la diferencia entre un proceso y un hilo?",
        "La reunión se pospuso hasta el próximo miércoles por la mañana.",
        "Necesitamos terminar la primera fase del proyecto antes de fin de mes.",
        "El médico recomendó descansar y beber mucha agua durante tres días.",
        "Los niños construyeron un castillo de arena con torres y un foso.",
        "Por favor, traduce este párrafo al inglés con un tono formal.",
        "La economía española creció más de lo previsto el año pasado.",
    ),
    "fr": (
        "Le rapport trimestriel montre une hausse régulière du chiffre d'affaires.",
        "Pourriez-vous m'expliquer la différence entre un processus et un thread ?",
        "La réunion a été reportée à mercredi prochain, à dix heures.",
        "Nous devons terminer la première étape du projet avant la fin du mois.",
        "Le musée présente une collection de photographies du début du siècle.",
        "Il a plu toute la journée, mais le concert a quand même eu lieu.",
        "Merci de vérifier les données avant de les envoyer au client.",
        "Les élèves préparent leurs examens de fin d'année avec sérieux.",
    ),
    "de": (
        "Der Quartalsbericht zeigt einen stetigen Anstieg der wiederkehrenden Umsätze.",
        "Könnten Sie mir den Unterschied zwischen einem Prozess und einem Thread erklären?",
        "Die Besprechung wurde auf nächsten Mittwoch um zehn Uhr verschoben.",
        "Wir müssen die erste Projektphase bis Ende des Monats abschließen.",
        "Die Straßenbahn fährt wegen Bauarbeiten heute nur bis zum Hauptbahnhof.",
        "Bitte überprüfen Sie die Datenschutzerklärung vor der Veröffentlichung.",
        "Größere Änderungen an der Schnittstelle müssen dokumentiert werden.",
        "Im Frühling blühen die Kirschbäume entlang des Flussufers.",
    ),
    "ru": (
        "Квартальный отчёт показывает устойчивый рост выручки во всех регионах.",
        "Не могли бы вы объяснить разницу между процессом и потоком?",
        "Совещание перенесли на следующую среду, на десять часов утра.",
        "Нам нужно завершить первый этап проекта до конца месяца.",
        "Пожалуйста, переведите этот абзац на английский язык.",
        "Зимой в Москве часто идёт снег, и дни становятся очень короткими.",
        "Пользователи жалуются, что страница входа загружается слишком медленно.",
        "Исследования показывают, что регулярные прогулки улучшают настроение.",
    ),
    "el": (
        "Η συνάντηση μετατέθηκε για την επόμενη Τετάρτη το πρωί.",
        "Μπορείτε να μου εξηγήσετε τη διαφορά μεταξύ διεργασίας και νήματος;",
        "Η Αθήνα είναι η πρωτεύουσα και η μεγαλύτερη πόλη της Ελλάδας.",
        "Παρακαλώ στείλτε μου την αναφορά μέχρι την Παρασκευή.",
    ),
}

# ------------------------------------------------------------------------------------------- generators

Gen = Callable[[random.Random, int], str]

ID_PARTS = (
    "user",
    "order",
    "item",
    "config",
    "request",
    "cache",
    "value",
    "count",
    "total",
    "index",
    "name",
    "path",
    "file",
    "data",
    "result",
    "buffer",
    "token",
    "node",
    "edge",
    "price",
    "session",
    "event",
    "queue",
    "parser",
    "matrix",
    "record",
    "account",
    "payload",
    "status",
    "retry",
    "limit",
    "offset",
)
ID_VERBS = (
    "get",
    "set",
    "load",
    "save",
    "parse",
    "build",
    "update",
    "compute",
    "handle",
    "validate",
    "fetch",
    "render",
    "merge",
    "filter",
    "sort",
    "find",
    "create",
    "delete",
    "process",
    "normalize",
)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(EN_WORDS) for _ in range(n))


def _ident(rng: random.Random, style: str, parts: int = 0) -> str:
    k = parts or rng.choice((1, 2, 2, 3))
    words = [rng.choice(ID_PARTS) for _ in range(k)]
    if style == "snake":
        return "_".join(words)
    if style == "pascal":
        return "".join(w.capitalize() for w in words)
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _fill(rng: random.Random, template: str, style: str, indent: str) -> str:
    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in "abc":
            return _ident(rng, style)
        if key == "F":
            verb = rng.choice(ID_VERBS)
            noun = _ident(rng, "pascal" if style != "snake" else "snake", rng.choice((1, 2)))
            return f"{verb}_{noun}" if style == "snake" else verb + noun
        if key == "C":
            return _ident(rng, "pascal")
        if key == "n":
            return str(rng.choice((0, 1, 2, 3, 10, 42, 100, 255, 1024, rng.randint(0, 99999))))
        if key == "f":
            return f"{rng.uniform(0, 1000):.{rng.randint(1, 4)}f}"
        if key == "s":
            return _words(rng, rng.randint(1, 6))
        if key == "k":
            return _ident(rng, "snake", rng.choice((1, 2)))
        raise KeyError(key)

    return re.sub(r"«(.)»", repl, template).replace("¦", indent)


@dataclass(frozen=True)
class Lang:
    name: str
    style: str
    indent: str
    statements: tuple[str, ...]
    wrapper: str  # «F» name, @BODY@ body; «C» class name
    comment: str


LANGS = (
    Lang(
        "python",
        "snake",
        "    ",
        (
            '«a» = «b».get("«k»", «n»)',
            'if «a» is None:\n¦raise ValueError(f"missing «k»: {«b»!r}")',
            "for «a» in «b»:\n¦«c».append(«a» * «n»)",
            "«a» += len(«b»)",
            'with open(«a», "r", encoding="utf-8") as fh:\n¦«b» = json.load(fh)',
            'logger.info("«s» %d", «a»)',
            "«a» = [x for x in «b» if x.«k» > «f»]",
            "try:\n¦«a» = «F»(«b», timeout=«n»)\nexcept KeyError as exc:\n¦raise RuntimeError(«a») from exc",
            "«a»: dict[str, int] = {}",
            "while «a» < «n»:\n¦«a» = «a» * 2 + 1",
            "return {«a»: «b» for «a», «b» in zip(«c», range(«n»))}",
            "yield from sorted(«a», key=lambda r: r.«k»)",
        ),
        "import json\nimport logging\n\nlogger = logging.getLogger(__name__)\n\n\n"
        'class «C»:\n    """«s»."""\n\n    def «F»(self, «a», «b»=None):\n@BODY@\n',
        "# ",
    ),
    Lang(
        "javascript",
        "camel",
        "  ",
        (
            "const «a» = «b».map((x) => x.«k» * «n»);",
            "let «a» = await fetch(`/api/«k»/${«b»}`);",
            "if (!«a») {\n¦throw new Error('«s»');\n}",
            "for (const «a» of «b») {\n¦«c».push(«a».«k»);\n}",
            "«a».«k» = «b» ?? «n»;",
            "console.log('«s»', «a»);",
            "return «a».filter(Boolean).reduce((acc, v) => acc + v, 0);",
            "const { «a», «b» } = «c»;",
            "«a» = «a» === undefined ? «f» : «a»;",
        ),
        "'use strict';\n\nexport async function «F»(«a», «b») {\n@BODY@\n}\n",
        "// ",
    ),
    Lang(
        "typescript",
        "camel",
        "  ",
        (
            "const «a»: number = «b».length * «n»;",
            "const «a» = new Map<string, «C»>();",
            "if («a» === null) {\n¦return undefined;\n}",
            "for (const [key, value] of Object.entries(«a»)) {\n¦«b»[key] = value as «C»;\n}",
            "«a».set(«b».id, { ...«c», «k»: «f» });",
            "return «a» as unknown as «C»[];",
            "type «C» = { «k»: string; «a»?: number };",
        ),
        "interface «C» {\n  «k»: string;\n  «a»: number;\n}\n\nexport function «F»(«a»: «C»[]): «C» | undefined {\n"
        "@BODY@\n}\n",
        "// ",
    ),
    Lang(
        "java",
        "camel",
        "    ",
        (
            "int «a» = «b».size() * «n»;",
            "List<«C»> «a» = new ArrayList<>();",
            'if («a» == null) {\n¦throw new IllegalArgumentException("«s»");\n}',
            "for («C» «a» : «b») {\n¦«c».add(«a».get«C»());\n}",
            'LOG.info("«s»: {}", «a»);',
            "return «a».stream().map(«C»::«F»).collect(Collectors.toList());",
            "Map<String, Integer> «a» = new HashMap<>();",
        ),
        "package com.example.«k»;\n\nimport java.util.*;\n\npublic class «C» {\n"
        "    private final int «a» = «n»;\n\n    public «C» «F»(«C» «b») {\n@BODY@\n    }\n}\n",
        "// ",
    ),
    Lang(
        "go",
        "camel",
        "\t",
        (
            "«a» := «b».«C»(«n»)",
            'if err != nil {\n¦return nil, fmt.Errorf("«s»: %w", err)\n}',
            "for i, «a» := range «b» {\n¦«c»[i] = «a» * «n»\n}",
            "«a» = append(«a», «b»...)",
            "defer «a».Close()",
            "ctx, cancel := context.WithTimeout(ctx, «n»*time.Millisecond)\ndefer cancel()",
            'log.Printf("«s» %v", «a»)',
        ),
        'package main\n\nimport (\n\t"context"\n\t"fmt"\n)\n\n'
        "func «F»(ctx context.Context, «a» []int) (*«C», error) {\n@BODY@\n}\n",
        "// ",
    ),
    Lang(
        "rust",
        "snake",
        "    ",
        (
            "let «a» = «b».iter().map(|x| x * «n»).collect::<Vec<_>>();",
            "let mut «a»: HashMap<String, u64> = HashMap::new();",
            "if let Some(«a») = «b».get(«n») {\n¦«c».push(«a».clone());\n}",
            "match «a» {\n¦Ok(v) => v,\n¦Err(e) => return Err(e.into()),\n}",
            "«a».insert(«b».to_string(), «n»);",
            'println!("«s» {:?}", «a»);',
            "let «a» = «b».«k»()?;",
        ),
        "use std::collections::HashMap;\n\n#[derive(Debug, Clone)]\npub struct «C» {\n    «a»: u32,\n}\n\n"
        "impl «C» {\n    pub fn «F»(&self, «b»: &[u64]) -> Result<u64, String> {\n@BODY@\n    }\n}\n",
        "// ",
    ),
    Lang(
        "c",
        "snake",
        "    ",
        (
            "int «a» = «b» * «n»;",
            "if («a» == NULL) {\n¦return -1;\n}",
            "for (size_t i = 0; i < «a»; i++) {\n¦«b»[i] = «c»[i] << 2;\n}",
            'printf("«s» %d\\n", «a»);',
            "memcpy(«a», «b», sizeof(*«b») * «n»);",
            "«a»->«k» = malloc(«n» * sizeof(uint32_t));",
        ),
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\nstatic int «F»(int *«a», size_t «b») {\n"
        "@BODY@\n}\n",
        "/* ",
    ),
    Lang(
        "cpp",
        "camel",
        "    ",
        (
            "auto «a» = std::make_unique<«C»>(«n»);",
            "std::vector<int> «a»{«n», «n», «n»};",
            "for (const auto& «a» : «b») {\n¦«c».emplace_back(«a»);\n}",
            'std::cout << "«s»" << «a» << std::endl;',
            "if (!«a».empty()) {\n¦std::sort(«a».begin(), «a».end());\n}",
        ),
        "#include <iostream>\n#include <vector>\n\nnamespace «k» {\n\nclass «C» {\n public:\n  int «F»(int «a») {\n"
        "@BODY@\n  }\n};\n\n}  // namespace «k»\n",
        "// ",
    ),
    Lang(
        "sql",
        "snake",
        "  ",
        (
            "SELECT «a», COUNT(*) AS «b»\nFROM «c»\nWHERE «k» > «n»\nGROUP BY «a»\nORDER BY «b» DESC;",
            "INSERT INTO «a» («b», «c») VALUES («n», '«s»');",
            "UPDATE «a» SET «b» = «b» + «n» WHERE id = «n»;",
            "SELECT u.«a», o.«b»\nFROM users u\nJOIN orders o ON o.user_id = u.id\nWHERE o.«k» >= «f»;",
            "CREATE INDEX idx_«a» ON «b» («c»);",
            "DELETE FROM «a» WHERE created_at < NOW() - INTERVAL '«n» days';",
        ),
        "-- «s»\nBEGIN;\n@BODY@\nCOMMIT;\n",
        "-- ",
    ),
    Lang(
        "bash",
        "snake",
        "  ",
        (
            'export «a»="${«b»:-«n»}"',
            'if [ -z "$«a»" ]; then\n¦echo "«s»" >&2\n¦exit 1\nfi',
            'for f in "$«a»"/*.log; do\n¦gzip -9 "$f"\ndone',
            "curl -sSf -H 'Accept: application/json' \"https://example.com/api/«k»?limit=«n»\" | jq '.«k»'",
            "grep -rn '«k»' src/ | wc -l",
            'docker run --rm -v "$PWD":/work -w /work «k»:latest make «k»',
        ),
        '#!/usr/bin/env bash\nset -euo pipefail\n\n«F»() {\n@BODY@\n}\n\n«F» "$@"\n',
        "# ",
    ),
    Lang(
        "html",
        "snake",
        "  ",
        (
            '<div class="«k»">\n¦<p>«s»</p>\n</div>',
            '<a href="/«k»/«n»" title="«s»">«s»</a>',
            '<input type="text" name="«k»" placeholder="«s»" required>',
            "<ul>\n¦<li>«s»</li>\n¦<li>«s»</li>\n</ul>",
            '<img src="/static/«k».png" alt="«s»" width="«n»">',
        ),
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>«s»</title>\n</head>\n'
        "<body>\n@BODY@\n</body>\n</html>\n",
        "<!-- ",
    ),
    Lang(
        "css",
        "snake",
        "  ",
        (
            ".«k» {\n¦display: flex;\n¦margin: «n»px auto;\n¦color: #3a3a3a;\n}",
            "#«k» > .«k»:hover {\n¦background-color: rgba(0, 0, 0, 0.«n»);\n}",
            "@media (max-width: «n»px) {\n¦.«k» { padding: 0 «n»px; }\n}",
        ),
        ":root {\n  --«k»: #ffffff;\n}\n\n@BODY@\n",
        "/* ",
    ),
    Lang(
        "json",
        "snake",
        "  ",
        (
            '"«k»": «n»,',
            '"«k»": "«s»",',
            '"«k»": [«n», «n», «n»],',
            '"«k»": {\n¦"«k»": «f»,\n¦"«k»": true\n},',
            '"«k»": null,',
        ),
        '{\n@BODY@\n  "id": «n»\n}\n',
        "",
    ),
    Lang(
        "yaml",
        "snake",
        "  ",
        (
            "«k»: «n»",
            "«k»: «s»",
            "«k»:\n¦- «k»\n¦- «k»",
            "«k»:\n¦enabled: true\n¦timeout_seconds: «n»",
        ),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: «k»\nspec:\n@BODY@\n",
        "# ",
    ),
)


def gen_code(rng: random.Random, target: int, lang: Lang | None = None) -> str:
    lang = lang or rng.choice(LANGS)
    base = lang.indent * (2 if lang.name in ("python", "rust", "java") else 1)
    if lang.name == "cpp":
        base = "    "
    lines: list[str] = []
    size = 0
    while size < target:
        stmt = _fill(rng, rng.choice(lang.statements), lang.style, lang.indent)
        if lang.comment and rng.random() < 0.15:
            end = " */" if lang.comment == "/* " else (" -->" if lang.comment == "<!-- " else "")
            stmt = f"{lang.comment}{_words(rng, rng.randint(3, 12))}{end}\n{stmt}"
        block = "\n".join(base + line for line in stmt.split("\n"))
        lines.append(block)
        size += len(block) + 1
    body = "\n".join(lines)
    text = _fill(rng, lang.wrapper, lang.style, lang.indent).replace("@BODY@", body)
    return text if len(text) <= target * 1.6 + 200 else text[: int(target * 1.3)]


def gen_prose(rng: random.Random, target: int) -> str:
    def fmt(template: str) -> str:
        return template.format(n=rng.choice(NOUNS), m=rng.choice(NOUNS), v=rng.choice(VERBS), w=rng.choice(PLACES))

    if target < 90:
        return fmt(rng.choice(EN_QUESTIONS + EN_INSTRUCTIONS))
    parts: list[str] = []
    if rng.random() < 0.5:
        parts.append(fmt(rng.choice(EN_INSTRUCTIONS)) + "\n\n")
    size = sum(map(len, parts))
    shape = rng.choice(("paragraphs", "paragraphs", "bullets", "email", "markdown"))
    while size < target:
        if shape == "bullets" and rng.random() < 0.6:
            chunk = f"- {rng.choice(EN_SENTENCES)}\n"
        elif shape == "markdown" and rng.random() < 0.15:
            chunk = f"\n## {_words(rng, rng.randint(2, 5)).title()}\n\n"
        elif rng.random() < 0.3:
            words = _words(rng, rng.randint(6, 22))
            chunk = words[0].upper() + words[1:] + rng.choice((". ", ", and ", "? ", "; ", ". "))
        else:
            chunk = rng.choice(EN_SENTENCES) + rng.choice((" ", " ", "\n", "\n\n"))
        parts.append(chunk)
        size += len(chunk)
    text = "".join(parts)
    if shape == "email":
        text = f"Hi {rng.choice(('Anna', 'Team', 'Mr. Okafor', 'all'))},\n\n{text}\n\nBest regards,\nJordan"
    return text.strip()


def gen_cjk(rng: random.Random, target: int) -> str:
    pool = rng.choice((ZH_SENTENCES, JA_SENTENCES, KO_SENTENCES, ZH_SENTENCES + JA_SENTENCES))
    joiner = " " if pool is KO_SENTENCES else ""
    parts: list[str] = []
    size = 0
    while size < target:
        s = rng.choice(pool)
        r = rng.random()
        if r < 0.08:
            s = f"{rng.randint(1, 2025)}{rng.choice(('年', '个', '件', '人', '%', '円'))}{s}"
        elif r < 0.14:
            s = f"{s}（{rng.choice(('API', 'GPU', 'SQL', 'Python', 'iPhone', 'CPU'))}）"
        elif r < 0.2:
            s = f"{rng.randint(1, 9)}. {s}\n"
        parts.append(s + (joiner if rng.random() < 0.85 else "\n"))
        size += len(s)
    return "".join(parts).strip()


def gen_numeric(rng: random.Random, target: int) -> str:
    kind = rng.choice(("csv", "markdown", "floats", "math", "finance", "series", "matrix", "ids"))
    out: list[str] = []
    size = 0
    if kind == "csv":
        cols = [rng.choice(ID_PARTS) for _ in range(rng.randint(3, 7))]
        out.append(",".join(cols))
    if kind == "markdown":
        cols = [rng.choice(ID_PARTS).title() for _ in range(rng.randint(3, 6))]
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" for _ in cols) + "|")
    while size < target:
        if kind == "csv":
            row = ",".join(_num(rng) for _ in range(len(out[0].split(","))))
        elif kind == "markdown":
            row = "| " + " | ".join(_num(rng) for _ in range(out[0].count("|") - 1)) + " |"
        elif kind == "floats":
            row = rng.choice((", ", " ", "; ", "\n")).join(_num(rng) for _ in range(rng.randint(3, 12)))
        elif kind == "math":
            a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(1, 99)
            row = rng.choice(
                (
                    f"Solve {a}x + {b} = {c * a}.",
                    f"Calculate ({a} * {b}) / {c} - {a}^2.",
                    f"{a} + {b} * {c} = {a + b * c}",
                    f"f(x) = {a}x^3 - {b}x + {c}; f({c}) = {a * c**3 - b * c + c}",
                    f"What is {a}% of {b * 1000}?",
                    f"sqrt({a * a}) = {a}, log10({10 ** (c % 6)}) = {c % 6}",
                )
            )
        elif kind == "finance":
            row = (
                f"{rng.choice(('Revenue', 'EBITDA', 'Net income', 'Opex', 'Capex'))} "
                f"Q{rng.randint(1, 4)} {rng.randint(2015, 2025)}: ${rng.randint(1000, 99999999):,}."
                f"{rng.randint(0, 99):02d} ({rng.uniform(-30, 30):+.1f}% YoY)"
            )
        elif kind == "series":
            row = (
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}\t{_num(rng)}\t{_num(rng)}\t{_num(rng)}"
            )
        elif kind == "matrix":
            row = "[" + ", ".join(_num(rng) for _ in range(rng.randint(3, 8))) + "],"
        else:
            row = rng.choice(
                (
                    f"+1 ({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                    f"v{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 200)}",
                    f"{rng.uniform(-90, 90):.6f}, {rng.uniform(-180, 180):.6f}",
                    f"order #{rng.randint(10**5, 10**9)} qty {rng.randint(1, 500)} @ {rng.uniform(0, 999):.2f}",
                    f"{rng.getrandbits(64):016x}",
                )
            )
        out.append(row)
        size += len(row) + 1
    return "\n".join(out)


def _num(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return str(rng.randint(-999, 99999))
    if r < 0.7:
        return f"{rng.uniform(-1000, 10000):.{rng.randint(1, 4)}f}"
    if r < 0.8:
        return f"{rng.uniform(1e-9, 1e9):.3e}"
    if r < 0.9:
        return f"{rng.uniform(0, 100):.1f}%"
    return str(rng.randint(0, 10**12))


def gen_mixed(rng: random.Random, target: int) -> str:
    kind = rng.choice(("doc", "doc", "logs", "json", "traceback", "chat"))
    if kind == "doc":
        lang = rng.choice(LANGS)
        head = gen_prose(rng, max(60, target // 3))
        code = gen_code(rng, max(80, target // 3), lang)
        tail = gen_numeric(rng, max(40, target // 6)) if rng.random() < 0.5 else gen_prose(rng, target // 6)
        return f"{head}\n\n```{lang.name}\n{code}```\n\n{tail}"
    if kind == "logs":
        lines: list[str] = []
        size = 0
        while size < target:
            line = (
                f"2024-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z "
                f"{rng.choice(('INFO', 'WARN', 'ERROR', 'DEBUG'))} [worker-{rng.randint(1, 16)}] "
                f"request_id={rng.getrandbits(32):08x} path=/api/v1/{rng.choice(ID_PARTS)}/{rng.randint(1, 9999)} "
                f"status={rng.choice((200, 201, 204, 400, 404, 500, 503))} latency_ms={rng.uniform(0.5, 900):.1f}"
                f' msg="{_words(rng, rng.randint(2, 8))}"'
            )
            lines.append(line)
            size += len(line) + 1
        return "\n".join(lines)
    if kind == "json":
        items: list[dict[str, Any]] = []
        size = 0
        while size < target:
            item = {
                "id": rng.randint(1, 10**6),
                "name": _words(rng, rng.randint(1, 3)),
                "email": f"{rng.choice(ID_PARTS)}.{rng.choice(ID_PARTS)}@example.com",
                "score": round(rng.uniform(0, 100), 2),
                "tags": [rng.choice(ID_PARTS) for _ in range(rng.randint(0, 4))],
                "active": rng.random() < 0.5,
            }
            items.append(item)
            size += len(json.dumps(item)) + 8
        return json.dumps({"results": items, "next": None}, indent=rng.choice((None, 2)), ensure_ascii=False)
    if kind == "traceback":
        frames: list[str] = ["Traceback (most recent call last):"]
        size = 0
        while size < target:
            mod = "/".join(rng.choice(ID_PARTS) for _ in range(rng.randint(1, 3)))
            frame = (
                f'  File "/srv/app/{mod}.py", line {rng.randint(1, 900)}, in {_ident(rng, "snake")}\n'
                f"    {_fill(rng, rng.choice(LANGS[0].statements).split(chr(10))[0], 'snake', '    ')}"
            )
            frames.append(frame)
            size += len(frame) + 1
        frames.append(f"KeyError: '{rng.choice(ID_PARTS)}'")
        return "\n".join(frames)
    parts: list[str] = []
    size = 0
    while size < target:
        r = rng.random()
        if r < 0.5:
            chunk = rng.choice(EN_SENTENCES)
        elif r < 0.65:
            chunk = rng.choice(ZH_SENTENCES + JA_SENTENCES + KO_SENTENCES + EU_SENTENCES["de"] + EU_SENTENCES["ru"])
        elif r < 0.75:
            chunk = rng.choice(("🙂", "🚀", "👍", "🎉", "✅", "⚠️", "→", "—", "…"))
        elif r < 0.88:
            chunk = f"https://example.com/{rng.choice(ID_PARTS)}/{rng.randint(1, 99999)}?ref={rng.choice(ID_PARTS)}"
        else:
            chunk = f"`{_fill(rng, rng.choice(LANGS[1].statements).split(chr(10))[0], 'camel', '  ')}`"
        parts.append(chunk)
        size += len(chunk.encode()) // 2 + 1
    return " ".join(parts)


def gen_multilingual(rng: random.Random, target: int) -> str:
    lang = rng.choice(tuple(EU_SENTENCES))
    parts: list[str] = []
    size = 0
    while size < target:
        s = rng.choice(EU_SENTENCES[lang])
        r = rng.random()
        if r < 0.1:
            s = f"{s[:-1]} ({rng.randint(1, 31)}.{rng.randint(1, 12):02d}.{rng.randint(1990, 2030)}){s[-1]}"
        elif r < 0.2:
            s = f"{s} {rng.choice(('Total', 'Σ', 'Итого', 'Gesamt', 'Precio'))}: {rng.uniform(0, 9999):,.2f} €"
        elif r < 0.27:
            s = f"- «{s}» — {rng.randint(1, 99)} %, ref. {rng.choice(ID_PARTS)}_{rng.randint(1, 999)}"
        elif r < 0.32:
            s = f"{rng.randint(1, 9)}) {s} [{rng.choice(ID_PARTS)}.{rng.choice(('py', 'json', 'csv'))}]"
        parts.append(s + rng.choice((" ", " ", "\n", "\n\n")))
        size += len(s)
    return "".join(parts).strip()


GENERATORS: dict[str, Gen] = {
    "prose": gen_prose,
    "code": gen_code,
    "cjk": gen_cjk,
    "numeric": gen_numeric,
    "mixed": gen_mixed,
    "multilingual": gen_multilingual,
}


def _target_length(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def build_corpus(seed: int = SEED) -> list[dict[str, Any]]:
    """Deterministic corpus: ``PER_CATEGORY`` texts per category (about 10..2,500 chars) + ``LONG_TEXTS`` long."""
    rng = random.Random(seed)
    corpus: list[dict[str, Any]] = []
    for category, gen in GENERATORS.items():
        for i in range(PER_CATEGORY):
            text = gen(rng, _target_length(rng, 10, 2500) if i else 8)
            corpus.append({"id": f"{category}-{i:03d}", "category": category, "text": text})
    for i in range(LONG_TEXTS):
        category = tuple(GENERATORS)[i % len(GENERATORS)]
        text = GENERATORS[category](rng, _target_length(rng, 6000, 40000))
        corpus.append({"id": f"long-{category}-{i:03d}", "category": "long", "text": text})
    return corpus


def build_conversations(corpus: Sequence[dict[str, Any]], seed: int = SEED) -> list[dict[str, Any]]:
    """Multi-message requests (system/user/assistant/tool, names, tool calls, tools) built from the corpus."""
    rng = random.Random(seed + 1)
    short = [c["text"] for c in corpus if c["category"] != "long" and len(c["text"]) < 1500]
    conversations: list[dict[str, Any]] = []
    for i in range(60):
        messages: list[dict[str, Any]] = []
        if rng.random() < 0.6:
            messages.append({"role": "system", "content": rng.choice(short)})
        for _ in range(rng.randint(1, 6)):
            msg: dict[str, Any] = {"role": rng.choice(("user", "assistant")), "content": rng.choice(short)}
            if rng.random() < 0.15:
                msg["name"] = rng.choice(("alice", "bob_smith", "agent-7"))
            if rng.random() < 0.1:
                msg["content"] = [{"type": "text", "text": rng.choice(short)}, {"type": "text", "text": "?"}]
            messages.append(msg)
        if rng.random() < 0.3:
            args = json.dumps({"query": rng.choice(short)[:200], "limit": rng.randint(1, 50)})
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": f"call_{i}", "type": "function", "function": {"name": "search_docs", "arguments": args}},
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": rng.choice(short)})
        tools = None
        if rng.random() < 0.4:
            tools = [
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": _words(rng, rng.randint(4, 16)),
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "query": {"type": "string", "description": _words(rng, 5)},
                                "limit": {"type": "integer"},
                                "mode": {"type": "string", "enum": ["fast", "exact", "fuzzy"]},
                                "filters": {"type": "array", "items": {"type": "string"}},
                            },
                            "required": ["query"],
                        },
                    },
                }
                for name in ("search_docs", "get_weather", "create_ticket")[: rng.randint(1, 3)]
            ]
        conversations.append({"messages": messages, "tools": tools})
    return conversations


# ------------------------------------------------------------------------------------------------ counting

COUNTER = r"""
import importlib.util, json, os, sys
if "TIKTOKEN_CACHE_DIR" not in os.environ:
    spec = importlib.util.find_spec("litellm")
    if spec and spec.submodule_search_locations:
        os.environ["TIKTOKEN_CACHE_DIR"] = os.path.join(
            spec.submodule_search_locations[0], "litellm_core_utils", "tokenizers")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import tiktoken
req = json.load(sys.stdin)
out = {}
for name in ("o200k_base", "cl100k_base"):
    enc = tiktoken.get_encoding(name)
    out[name] = [len(enc.encode(t, disallowed_special=())) for t in req["texts"]]
if req.get("conversations"):
    from litellm import token_counter
    out["conversations"] = [
        token_counter(model="gpt-4o", messages=c["messages"], tools=c["tools"]) for c in req["conversations"]]
json.dump(out, sys.stdout)
"""


def count_real(python: str, texts: list[str], conversations: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Run the tokenizer subprocess; returns ``{"o200k_base": [...], "cl100k_base": [...], ...}``."""
    payload = json.dumps({"texts": texts, "conversations": conversations})
    proc = subprocess.run(
        [python, "-c", COUNTER], input=payload, capture_output=True, text=True, check=False, timeout=600
    )
    if proc.returncode != 0:
        sys.exit(f"tokenizer subprocess failed ({python}):\n{proc.stderr[-3000:]}")
    result: dict[str, list[int]] = json.loads(proc.stdout)
    return result


def load_tokens_module() -> ModuleType:
    """``app.tokens`` (stdlib-only; importing the ``app`` package imports only its error hierarchy)."""
    sys.path.insert(0, str(ROOT))
    return importlib.import_module("app.tokens")


# ------------------------------------------------------------------------------------------------- report


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def report(tokens: ModuleType, corpus: list[dict[str, Any]], real: dict[str, list[int]]) -> bool:
    """Print per-category figures; returns True when every target is met."""
    ok = True
    for encoding in ("o200k_base", "cl100k_base"):
        counts = real[encoding]
        print(f"\n## {encoding} — text-level (content of one message; overhead excluded)\n")
        print(
            "| category | n | mean chars | mean est/real | p1..p99 est/real | upper ≥ real (misses) "
            "| mean overshoot | max real/upper | strict ≥ real |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        groups: dict[str, list[int]] = {}
        for idx, item in enumerate(corpus):
            groups.setdefault(item["category"], []).append(idx)
        groups["all"] = list(range(len(corpus)))
        for category, idxs in groups.items():
            ratios, covered, over, worst, strict_ok, chars = [], 0, [], 0.0, 0, 0
            for idx in idxs:
                text, r = corpus[idx]["text"], counts[idx]
                est = tokens.estimate_text_tokens(text, encoding=encoding)
                up = tokens.upper_bound_text_tokens(text, "estimate", encoding=encoding)
                st = tokens.upper_bound_text_tokens(text, "strict")
                ratios.append(est / max(r, 1))
                covered += up >= r
                over.append(up / max(r, 1) - 1)
                worst = max(worst, r / max(up, 1))
                strict_ok += st >= r
                chars += len(text)
            ratios.sort()
            n = len(idxs)
            share = covered / n
            lo, hi = ratios[int(0.01 * (n - 1))], ratios[int(0.99 * (n - 1))]
            print(
                f"| {category} | {n} | {chars // n:,} | {sum(ratios) / n:.3f} | {lo:.2f}..{hi:.2f} | "
                f"{share:.2%} ({n - covered}) | {sum(over) / n:+.1%} | {worst:.3f} | {strict_ok / n:.0%} |"
            )
            if share < 0.99:
                ok = False
            if strict_ok != n:
                ok = False
    return ok


def report_conversations(tokens: ModuleType, conversations: list[dict[str, Any]], real: list[int]) -> bool:
    est_ratio, covered, strict_ok, over = [], 0, 0, []
    for conv, r in zip(conversations, real, strict=True):
        est = tokens.estimate_tokens(conv["messages"], tools=conv["tools"])
        up = tokens.upper_bound_tokens(conv["messages"], "estimate", tools=conv["tools"])
        st = tokens.upper_bound_tokens(conv["messages"], "strict", tools=conv["tools"])
        est_ratio.append(est / r)
        covered += up >= r
        strict_ok += st >= r
        over.append(up / r - 1)
    n = len(real)
    print("\n## gpt-4o (o200k) — whole requests via litellm.token_counter (messages + tools)\n")
    print(f"- conversations: {n}")
    print(f"- mean estimate/real: {sum(est_ratio) / n:.3f} (min {min(est_ratio):.3f}, max {max(est_ratio):.3f})")
    print(f"- upper(estimate) ≥ real: {covered / n:.1%}, mean overshoot {sum(over) / n:+.1%}")
    print(f"- upper(strict) ≥ real: {strict_ok / n:.0%}")
    return covered / n >= 0.99 and strict_ok == n


# ---------------------------------------------------------------------------------------------------- fit


FIT_SEEDS = (101, 102, 103, 104, 105, 106)


def fit(tokens: ModuleType, python: str) -> None:
    """Print weights per encoding and text group, and the margins they need on held-out corpora.

    Training set: the short/medium texts of the corpora of ``FIT_SEEDS`` (not the default seed, which is
    the checked-in fixture); weighted least squares on relative error (rows weighted by 1/real).
    Margins: quantiles over held-out seeds 1..6 of ``(real - slack) / estimate``.
    """
    import numpy as np

    def load(seeds: Sequence[int]) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
        corpus = [c for seed in seeds for c in build_corpus(seed) if c["category"] != "long"]
        return corpus, count_real(python, [c["text"] for c in corpus], [])

    train, train_real = load(FIT_SEEDS)
    held, held_real = load(range(1, 7))
    ascii_weights: dict[str, dict[int, Any]] = {}
    for encoding in ("o200k_base", "cl100k_base"):
        for group, group_name in enumerate(tokens.TEXT_GROUPS):

            def rows(corpus: list[dict[str, Any]], real: dict[str, list[int]]) -> tuple[Any, Any, list[str]]:
                feats = [tokens.text_features(c["text"]) for c in corpus]
                keep = [i for i, f in enumerate(feats) if tokens.text_group(f) == group]  # noqa: B023
                x = np.array([feats[i] for i in keep], dtype=float)
                y = np.array([real[encoding][i] for i in keep], dtype=float)  # noqa: B023
                return x, y, [corpus[i]["category"] for i in keep]

            x, y, _ = rows(train, train_real)
            # Non-ASCII groups: letters/symbols cost at least what they cost in ASCII text (a prior that
            # keeps sparse ASCII parts from being fitted to ~0); every other weight >= 0.
            floor = np.zeros(8)
            if group >= 2:
                floor[[0, 1]] = np.maximum(ascii_weights[encoding][0][[0, 1]], ascii_weights[encoding][1][[0, 1]])
            cols = [0, 1, 2, 3, 4, 7] if group < 2 else [0, 1, 2, 3, 4, 5, 7] if group == 2 else list(range(8))
            w = 1.0 / np.maximum(y, 1.0)
            target = y - x @ floor
            coef = floor.copy()
            while True:  # least squares, dropping negative weights until all are >= 0
                sol, *_ = np.linalg.lstsq(x[:, cols] * w[:, None], target * w, rcond=None)
                if (sol >= 0).all():
                    break
                cols = [c for c, v in zip(cols, sol, strict=True) if v > 0]
            coef[cols] += sol
            if group < 2:
                ascii_weights.setdefault(encoding, {})[group] = coef
            hx, hy, cats = rows(held, held_real)
            pred = np.maximum(hx @ coef, 1e-9)
            print(
                f"{encoding} {group_name} (train n={len(y)}, held-out n={len(hy)}): "
                f"weights=({', '.join(f'{c:.4f}' for c in coef)})"
            )
            print(f"  held-out mean est/real {np.mean(pred / hy):.3f}")
            for slack in (1.0, 2.0, 3.0):
                need = (hy - slack) / pred
                q = np.quantile(need, [0.99, 0.995, 0.999])
                by_cat = {c: float(np.quantile(need[[k == c for k in cats]], 0.99)) for c in sorted(set(cats))}
                print(
                    f"  slack {slack:g}: margin for 99% {q[0]:.3f}, 99.5% {q[1]:.3f}, 99.9% {q[2]:.3f}, "
                    f"max {need.max():.3f}; per-category p99 " + ", ".join(f"{c} {v:.3f}" for c, v in by_cat.items())
                )


def _parse_seeds(spec: str) -> list[int]:
    seeds: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        seeds += range(int(lo), int(hi or lo) + 1)
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokenizer-python", default=os.environ.get("COSTMUX_TOKENIZER_PYTHON", DEFAULT_TOKENIZER_PYTHON)
    )
    parser.add_argument("--write-fixture", action="store_true", help=f"rewrite {FIXTURE.relative_to(ROOT)}")
    parser.add_argument("--fit", action="store_true", help="print least-squares feature weights")
    parser.add_argument(
        "--seeds",
        default=str(SEED),
        help="corpus seed(s): N, N,M or N-M; other seeds than the default are a held-out check (e.g. 1-12)",
    )
    args = parser.parse_args(argv)

    tokens = load_tokens_module()
    if args.fit:
        fit(tokens, args.tokenizer_python)
        return 0
    seeds = _parse_seeds(args.seeds)
    corpus, conversations = [], []
    for seed in seeds:
        part = build_corpus(seed)
        if len(seeds) > 1:
            part = [{**c, "id": f"{seed}:{c['id']}"} for c in part]
        corpus += part
        conversations += build_conversations(part, seed)
    real = count_real(args.tokenizer_python, [c["text"] for c in corpus], conversations)
    long_texts = sum(c["category"] == "long" for c in corpus)
    print(
        f"corpus (seeds {args.seeds}): {len(corpus)} texts ({len(corpus) - long_texts} short/medium in "
        f"{len(GENERATORS)} categories, {long_texts} long), {sum(len(c['text']) for c in corpus):,} chars"
    )
    ok = report(tokens, corpus, real)
    ok = report_conversations(tokens, conversations, real["conversations"]) and ok
    if args.write_fixture and seeds != [SEED]:
        sys.exit("--write-fixture needs the default --seeds")
    if args.write_fixture:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        with FIXTURE.open("w", encoding="utf-8") as fh:
            for idx, item in enumerate(corpus):
                if item["category"] == "long" or len(item["text"].encode()) > FIXTURE_MAX_BYTES:
                    continue
                row = {**item, "o200k_base": real["o200k_base"][idx], "cl100k_base": real["cl100k_base"][idx]}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"\nwrote {FIXTURE.relative_to(ROOT)} ({FIXTURE.stat().st_size:,} bytes)")
    print("\nresult:", "all targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
