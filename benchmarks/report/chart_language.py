"""Charts in another language: the drawn figure's texts, rewritten through a label table.

The charts are drawn in English (``benchmarks.report.charts``); ``pushlab charts DIR --lang ru``
rewrites each figure's titles, axis labels, legend entries and notes through the table
below before saving it, so a new chart needs only its phrases added here, not a second
drawing function. A phrase missing from the table stays English.
"""

# The table is Russian on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter

LANGUAGES = ("en", "ru")

RUSSIAN_PHRASES: dict[str, str] = {
    # chart titles (benchmarks.report.chart_parts.CHART_TITLES)
    "HTTP requests per delivered message (requests/message)": (
        "HTTP-запросов на доставленное сообщение (запросов/сообщение)"
    ),
    "HTTP requests per client per minute, busy and idle (requests/min)": (
        "HTTP-запросов на клиента в минуту: оживлённый чат и тишина"
    ),
    "busy chat: everyone writes about every 5 s": "оживлённый чат: все пишут раз в ~5 с",
    "idle room: about one message a minute": "тишина: около сообщения в минуту",
    "Not measured in this run.": "В этом прогоне не измерялось.",
    "No idle scenario in this run: pushlab bench --profile full measures the quiet room.": (
        "Сценария idle в этом прогоне нет: тихую комнату измерит pushlab bench --profile full."
    ),
    "Dotted line (left)": "Пунктир слева",
    "Dotted line (right)": "Пунктир справа",
    "one poll every": "один опрос раз в",
    "plus the client's own": "плюс собственные отправки клиента:",
    " sends": "",
    "(hollow dots on a log axis)": "(пустые точки на логарифмической оси)",
    "Hatched bars": "Штрихованные столбцы",
    "Delivery latency p50 / p95 / p99 (ms)": "Задержка доставки p50 / p95 / p99 (мс)",
    "Delivery latency distribution, CDF (ms)": "Распределение задержки доставки, CDF (мс)",
    "Bytes sent per delivered message (bytes)": "Байт отправлено на доставленное сообщение (байт)",
    "Server CPU time per delivered message (ms)": "CPU сервера на доставленное сообщение (мс)",
    "Redis commands per delivered message (commands)": (
        "Команд Redis на доставленное сообщение (команд)"
    ),
    "Database queries per client per minute (queries/min)": (
        "Запросов к базе данных на клиента в минуту (запросов/мин)"
    ),
    "database queries per client per minute (queries/min)": (
        "запросов к базе на клиента в минуту (запросов/мин)"
    ),
    "Cost as clients grow: requests per client per minute and CPU per delivery": (
        "Стоимость с ростом числа клиентов: запросы и CPU"
    ),
    "p95 delivery latency as clients grow (ms)": (
        "Задержка доставки p95 с ростом числа клиентов (мс)"
    ),
    "Clients one server holds at the SLO, quiet and busy load (clients)": (
        "Сколько клиентов сервер держит в пределах SLO, тихая и оживлённая нагрузка"
    ),
    "Capacity steps: p95 latency and server CPU as clients grow": (
        "Ступени ёмкости: задержка p95 и CPU сервера с ростом числа клиентов"
    ),
    "clients at the SLO (count; solid: quiet, pale: busy)": (
        "клиентов в пределах SLO (сплошные: тихо, бледные: оживлённо)"
    ),
    "p95 delivery latency, send → receive (ms, log scale)": (
        "задержка доставки p95, отправка → получение (мс, лог. шкала)"
    ),
    "connected clients (count, log scale)": "подключённых клиентов (лог. шкала)",
    "server CPU (% of one core)": "CPU сервера (% одного ядра)",
    "p95 delivery latency": "задержка доставки p95",
    "Timeline: a few clients of each technique over the same 10 s": (
        "Хронология: несколько клиентов каждого способа за одни и те же 10 с"
    ),
    "Server CPU": "CPU сервера",
    # axis labels and panel titles
    "HTTP requests per delivered message (requests)": "HTTP-запросов на доставленное сообщение",
    "HTTP requests per client per minute": "HTTP-запросов на клиента в минуту",
    "bytes sent by the server per delivered message (bytes)": (
        "байт от сервера на доставленное сообщение"
    ),
    "server CPU time per delivered message (ms)": "CPU сервера на доставленное сообщение (мс)",
    "Server CPU per delivered message": "CPU сервера на доставленное сообщение",
    "delivery latency, send → receive (ms)": "задержка доставки, отправка → получение (мс)",
    "fraction of deliveries at or below x (0 to 1)": "доля доставок не дольше x (от 0 до 1)",
    "percentile of deliveries": "перцентиль доставок",
    "(median)": "(медиана)",
    "connected clients (count)": "подключённых клиентов",
    "requests / client / minute": "запросов / клиент / минуту",
    "server CPU per delivery (ms)": "CPU сервера на доставку (мс)",
    "p95 delivery latency (ms)": "задержка доставки p95 (мс)",
    "(requests/min)": "(запросов/мин)",
    ", log scale": ", лог. шкала",
    " ms": " мс",
    " s ·": " с ·",
    "seconds since the run's first client started (s)": (
        "секунды от старта первого клиента прогона (с)"
    ),
    "client #": "клиент № ",
    "HTTP requests: ": "HTTP-запросов: ",
    "pushed frames and events: ": "протолкнуто кадров и событий: ",
    # the timeline's legend
    "HTTP request, from open to answer": "HTTP-запрос, от открытия до ответа",
    "a send's POST (thin, at a lane's foot)": "POST отправки (тонкий, внизу дорожки)",
    "socket or event stream held open": "открытый сокет или поток событий",
    "frame or event pushed": "протолкнутый кадр или событие",
    "message arrives": "сообщение пришло",
    "message sent (any client)": "сообщение отправлено (любым клиентом)",
    # notes under the charts
    "Dashed lines": "Пунктирные линии",
    "Each panel: the same seconds of that technique's own run.": (
        "Каждая панель — одни и те же секунды собственного прогона этого способа."
    ),
    "Each lane: one of the run's first clients, all in one room.": (
        "Каждая дорожка — один из первых клиентов прогона, все они в одной комнате."
    ),
    "No timeline recorded for ": "Хронология не записана: ",
    "No strategy recorded a timeline in this run.": (
        "В этом прогоне ни один способ не записал хронологию."
    ),
    "Hollow markers": "Пустые маркеры",
    "load generator saturated": "генератор нагрузки перегружен",
    "Locust, not the server, was the limit, so those numbers understate the server.": (
        "упёрлись в Locust, а не в сервер, так что сервер на деле способен на большее."
    ),
    "Locust, not the server, was the limit.": "упёрлись в Locust, а не в сервер.",
    "server saturated": "сервер перегружен",
    "Red rings": "Красные кольца",
    "% of a core)": "% ядра)",
    "the machine's limit, left out of every fitted line.": (
        "это предел машины, и ни одна подогнанная линия её не учитывает."
    ),
    "No strategy finished this run successfully.": "Ни один способ не прошёл этот прогон.",
    "no deliveries, so no latency to show.": "доставок нет, показывать нечего.",
    "delivered no messages, so there is nothing per delivery.": (
        "не доставил ни одного сообщения, считать на доставку нечего."
    ),
    "not charted; the line breaks there": "не нарисовано; линия там прерывается",
    "scenario sweep (chat load at each number of clients)": (
        "сценарий sweep (нагрузка чата при разном числе клиентов)"
    ),
    "s per step": "с на шаг",
    "poll interval": "интервал опроса",
    "short polling: one poll every": "короткий опрос: один запрос раз в",
    "a minute": "в минуту",
    "1 request per delivered message": "1 запрос на доставленное сообщение",
    "scenario": "сценарий",
    "clients": "клиентов",
    "server": "сервер",
    "run ": "прогон ",
}
"""English phrase → Russian; longer phrases are replaced first, so parts never clash."""


RUSSIAN_QUESTIONS: dict[str, str] = {
    # the question each chart answers (benchmarks.report.charts.CHARTS), keyed by the English
    # one, so a reworded question has no Russian until it is translated here
    "What does each technique do over time: poll on a timer, hold a request until a message "
    "comes, or push frames down a connection it keeps open?": (
        "Что каждый способ делает во времени: опрашивает по таймеру, держит запрос, пока не "
        "придёт сообщение, или проталкивает кадры по соединению, которое держит открытым?"
    ),
    "How many HTTP requests does each strategy make for every message it delivers?": (
        "Сколько HTTP-запросов делает каждый способ на каждое доставленное сообщение?"
    ),
    "How many HTTP requests does one client make each minute, whether or not anyone writes?": (
        "Сколько HTTP-запросов делает один клиент в минуту, пишет кто-нибудь или нет?"
    ),
    "How long does a message take from sender to receiver, typically (p50) and in the slow "
    "tail (p95, p99)?": (
        "Сколько сообщение идёт от отправителя к получателю: обычно (p50) и в медленном хвосте "
        "(p95, p99)?"
    ),
    "What fraction of deliveries arrived within a given number of milliseconds?": (
        "Какая доля доставок пришла не дольше заданного числа миллисекунд?"
    ),
    "How many bytes does the server send, headers and frame headers included, for each "
    "message delivered?": (
        "Сколько байт сервер отправляет на каждое доставленное сообщение, вместе с заголовками "
        "ответов и кадров?"
    ),
    "How much server CPU time does each delivered message cost?": (
        "Сколько процессорного времени сервера стоит каждое доставленное сообщение?"
    ),
    "How much Redis work does each delivered message cost?": (
        "Сколько работы Redis стоит каждое доставленное сообщение?"
    ),
    "How many database queries does one client cost each minute: empty HTTP requests (short "
    "polling), empty storage requests (naive long polling), or nothing while idle?": (
        "Сколько запросов к базе данных стоит один клиент в минуту: пустые HTTP-запросы "
        "(короткий опрос), пустые запросы к хранилищу (наивный длинный опрос) или ничего, "
        "пока все молчат?"
    ),
    "How do requests per client per minute and server CPU per delivery change as the number "
    "of clients grows?": (
        "Как меняются запросы на клиента в минуту и CPU сервера на доставку с ростом числа "
        "клиентов?"
    ),
    "How does the slow-tail (p95) delivery latency change as the number of clients grows?": (
        "Как меняется задержка доставки в медленном хвосте (p95) с ростом числа клиентов?"
    ),
    "How much more server CPU does each strategy's hot path cost than the least a bare ASGI "
    "app spends on the same job?": (
        "Насколько больше CPU сервера стоит горячий путь каждого способа, чем минимум, "
        "который голое ASGI-приложение тратит на ту же работу?"
    ),
    "What does the choice of ASGI server and channel layer cost per delivered message?": (
        "Чего стоит на доставленное сообщение выбор ASGI-сервера и канального слоя?"
    ),
    "How many clients does each technique hold before delivery p95 passes 500 ms, a message "
    "is lost or a request fails, in quiet rooms and in busy ones?": (
        "Сколько клиентов держит каждый способ, пока p95 доставки не превысит 500 мс, не "
        "потеряется сообщение или не упадёт запрос, в тихих комнатах и в оживлённых?"
    ),
    "How do p95 latency and server CPU grow with the clients, and at which step did each "
    "technique break?": (
        "Как растут задержка p95 и CPU сервера с числом клиентов и на какой ступени сломался "
        "каждый способ?"
    ),
}
"""English question → Russian: the caption a Russian docs page shows under a chart."""


def question_in(language: str, question: str) -> str:
    """A chart's question in ``language``; a question without its Russian is an error (the
    docs build fails) rather than an English caption on a Russian page."""
    if language == "en":
        return question
    try:
        return RUSSIAN_QUESTIONS[question]
    except KeyError:
        raise KeyError(f"RUSSIAN_QUESTIONS has no Russian for {question!r}") from None


def russian_phrases() -> dict[str, str]:
    """The table plus each registered strategy's Russian name (legends and notes)."""
    from benchmarks.report.reference_docs import RUSSIAN
    from strategies import STRATEGIES

    names = {
        strategy.title: RUSSIAN.titles[key]
        for key, strategy in STRATEGIES.items()
        if key in RUSSIAN.titles
    }
    return {**RUSSIAN_PHRASES, **names}


def translated(text: str, phrases: Mapping[str, str]) -> str:
    for english in sorted(phrases, key=len, reverse=True):
        if english in text:
            text = text.replace(english, phrases[english])
    return text


DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")


def in_russian(text: str, phrases: Mapping[str, str]) -> str:
    """The phrases translated, numbers written the Russian way: 1222 (no thousands comma,
    which would read as a decimal one) and 70,8 (a decimal comma)."""
    text = THOUSANDS_COMMA.sub("", translated(text, phrases))
    return DECIMAL_POINT.sub(",", text)


def translate_figure(figure: Figure, language: str) -> Figure:
    """Rewrite every text of a drawn figure into ``language`` (``en``: left as drawn):
    titles, labels, legends, notes, and category tick labels (the strategies' names)."""
    if language == "en":
        return figure
    if language != "ru":
        raise ValueError(f"charts are drawn in {', '.join(LANGUAGES)}, not {language!r}")
    phrases = russian_phrases()
    for text in figure.findobj(Text):
        if isinstance(text, Text) and text.get_text():
            text.set_text(in_russian(text.get_text(), phrases))
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_formatter(RussianTickFormatter(axis.get_major_formatter(), phrases))
            axis.set_minor_formatter(RussianTickFormatter(axis.get_minor_formatter(), phrases))
    return figure


class RussianTickFormatter(Formatter):
    """A tick formatter's labels in Russian: the strategies' names on a bar chart's axis
    (set by ``set_xticks(..., labels)``) and decimal commas (0,5 rather than 0.5)."""

    def __init__(self, inner: Formatter, phrases: Mapping[str, str]) -> None:
        self.inner = inner
        self.phrases = phrases

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs: Any) -> None:
        self.inner.set_locs(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return in_russian(self.inner(x, pos), self.phrases)

    def get_offset(self) -> str:
        return DECIMAL_POINT.sub(",", self.inner.get_offset())
