"""Five demo agents. Each adds its steps under the AGENT root span and says how the run went.

`fail_tool` makes a tool fail the way it does in production: the support agent escalates, the
research assistant answers without the web, the SQL analyst retries, the coding agent loops until it
gives up and the travel booker times out (the last two fail the whole trace).
"""

import json
from collections.abc import Callable

from .draft import TraceDraft, Turn, fail, tool_call

SYSTEM_PROMPTS = {
    "support-agent": "You are Panda Outfitters' support agent. Be concise, cite the order, never invent policy.",
    "research-assistant": "You are a research assistant. Answer from the retrieved sources and cite them.",
    "coding-agent": "You are a coding agent. Make the failing tests pass with the smallest change.",
    "travel-booker": "You book business travel within the company policy (economy under 6 hours).",
    "sql-analyst": "You translate questions into PostgreSQL for the analytics warehouse and explain results.",
}
ORDERS = ["PO-48213", "PO-51877", "PO-50321", "PO-49990", "PO-52210"]
SUPPORT_QUESTIONS = [
    "Where is my order {order}? It was supposed to arrive on Tuesday.",
    "I was charged twice for {order}, can you refund one of the payments?",
    "Can I swap the size on {order}? The boots are a half size too small.",
    "The tent pole in {order} arrived broken. What are my options?",
    "Do you ship {order} to Norway, and how much would customs be?",
]
RESEARCH_QUESTIONS = [
    "What changed between the EU AI Act's draft and final text for general-purpose models?",
    "Summarize the evidence on retrieval-augmented generation reducing hallucinations.",
    "Compare vector databases for 50M embeddings with filtering: pgvector, Qdrant, Milvus.",
    "What are the main failure modes of LLM agents reported in 2024 papers?",
    "How do people evaluate tool-calling accuracy in agent benchmarks?",
]
CODING_TASKS = [
    "Fix the failing test test_parse_invoice_dates in billing/tests/test_parser.py",
    "Make `make test` pass after the Django 5.2 upgrade",
    "The CSV export drops the last row; fix it and add a test",
    "Refactor retry logic in http_client.py without breaking tests",
]
TRIPS = ["SFO to JFK", "LHR to BER", "CDG to MAD", "SEA to ORD", "AMS to OSL"]
SQL_QUESTIONS = [
    "What was revenue by region last quarter?",
    "Which 10 customers churned in May, and what did they spend in total?",
    "Show weekly active users for the mobile app since January.",
    "What is the average order value for first-time buyers vs repeat buyers?",
]
MAX_CODING_ATTEMPTS = 7


def _system(agent: str) -> dict:
    return {"role": "system", "content": SYSTEM_PROMPTS[agent]}


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def support_agent(draft: TraceDraft, root: str, question: str, *, fail_tool: bool) -> Turn:
    """Plan, look the order up, search the knowledge base, answer, check policy, reply, summarize."""
    order = draft.rng.choice(ORDERS)
    messages = [_system("support-agent"), _user(question.format(order=order))]
    plan = tool_call("lookup_order", {"order_id": order})
    draft.llm("plan", root, model="gpt-4o-mini", messages=messages, reply=plan)
    lookup = draft.leaf("lookup_order", "TOOL", root, (60, 400), input={"order_id": order})
    if fail_tool:
        fail(lookup, "OrderServiceError: 503 Service Unavailable from orders-api (retry budget exhausted)")
        answer = "Sorry, I can't reach our order system right now. A teammate will email you within 24 hours."
        draft.llm("apologize", root, model="gpt-4o-mini", messages=messages, reply={"content": answer})
        return Turn(messages[1]["content"], answer, tags=["escalated"])
    lookup["output"] = {"order_id": order, "status": "in_transit", "carrier": "DHL", "eta_days": 2}
    _knowledge_base_search(draft, root, messages[1]["content"])
    answer = (
        f"Your order {order} is in transit with DHL and should arrive within 2 business days. If it "
        "has not arrived by then, reply here and I'll open a carrier claim. Exchanges and refunds "
        "are free within 30 days of delivery (kb-112)."
    )
    context = {"role": "tool", "content": json.dumps(lookup["output"])}
    draft.llm("draft_answer", root, model="gpt-4o", messages=[*messages, context], reply={"content": answer})
    _policy_check(draft, root, answer)
    draft.leaf("send_reply", "TOOL", root, (30, 120), input={"order_id": order}, output={"delivered": True})
    summary = {"content": f"Customer asked about {order}; shipping ETA given."}
    draft.llm("summarize_ticket", root, model="gpt-4o-mini", messages=[_user(answer)], reply=summary)
    return Turn(messages[1]["content"], answer)


def _knowledge_base_search(draft: TraceDraft, parent: str, question: str) -> None:
    search = draft.open("kb_search", "RETRIEVER", parent, input={"query": question, "top_k": 2})
    embedding = {
        "model": "text-embedding-3-small",
        "input": {"text": question},
        "output": {"dimensions": 1536},
    }
    draft.leaf("embed_query", "EMBEDDING", search["span_id"], (20, 90), **embedding)
    scores = sorted((round(draft.rng.uniform(0.6, 0.93), 3) for _ in range(2)), reverse=True)
    documents = [
        {"id": "kb-112", "title": "Shipping times and tracking", "score": scores[0]},
        {"id": "kb-087", "title": "Refunds, returns and exchanges", "score": scores[1]},
    ]
    draft.close(search, output={"documents": documents})


def _policy_check(draft: TraceDraft, parent: str, answer: str) -> None:
    guard = draft.open("guardrails", "CHAIN", parent, input={"text": answer})
    check = {
        "role": "system",
        "content": "Answer PASS or FAIL: does the reply promise anything outside policy?",
    }
    messages = [check, _user(answer)]
    draft.llm(
        "policy_check", guard["span_id"], model="gpt-4o-mini", messages=messages, reply={"content": "PASS"}
    )
    draft.close(guard, output={"verdict": "PASS"})


def research_assistant(draft: TraceDraft, root: str, question: str, *, fail_tool: bool) -> Turn:
    """Embed, retrieve, search the web, synthesize an answer with citations."""
    rng = draft.rng
    embedding = {
        "model": "text-embedding-3-small",
        "input": {"text": question},
        "output": {"dimensions": 1536},
    }
    draft.leaf("embed_query", "EMBEDDING", root, (25, 80), **embedding)
    hits = rng.randint(3, 6)
    documents = [
        {"id": f"doc-{rng.randint(100, 999)}", "score": round(rng.uniform(0.55, 0.92), 3)}
        for _ in range(hits)
    ]
    draft.leaf(
        "vector_search",
        "RETRIEVER",
        root,
        (40, 250),
        input={"query": question},
        output={"documents": documents},
    )
    web = draft.leaf("web_search", "TOOL", root, (300, 1800), input={"q": question[:80]})
    if fail_tool:
        fail(web, "HTTPError: 429 Too Many Requests from search provider (rate limit 60/min)")
    else:
        web["output"] = {"results": [{"url": "https://example.org/survey", "title": "A survey of the topic"}]}
    answer = (
        f"Based on {hits} retrieved sources{'' if fail_tool else ' and a web search'}: the evidence is "
        "consistent but depends heavily on retrieval quality; see [1] and [2]."
    )
    messages = [_system("research-assistant"), _user(question)]
    draft.llm("synthesize", root, model="claude-3-5-sonnet", messages=messages, reply={"content": answer})
    return Turn(question, answer, tags=["web-search-failed"] if fail_tool else [])


def coding_agent(draft: TraceDraft, root: str, task: str, *, fail_tool: bool) -> Turn:
    """Run the tests, patch, run them again: a loop of one tool that sometimes never converges."""
    messages = [_system("coding-agent"), _user(task)]
    path = "billing/parser.py"
    draft.leaf("read_file", "TOOL", root, (5, 30), input={"path": path}, output={"lines": 212})
    attempts = MAX_CODING_ATTEMPTS if fail_tool else draft.rng.randint(1, 4)
    for attempt in range(1, attempts + 1):
        tests = draft.leaf("run_tests", "TOOL", root, (1500, 6000), input={"command": "pytest -x -q"})
        if attempt == attempts and not fail_tool:
            tests["output"] = {"passed": 148, "failed": 0}
            break
        fail(tests, f"AssertionError: expected date(2024, 3, 1), got date(2024, 1, 3) (attempt {attempt})")
        patch = tool_call("apply_patch", {"path": path, "hunk": "-dayfirst=True\n+dayfirst=False"})
        seen = [*messages, {"role": "tool", "content": tests["error"]}]
        draft.llm("propose_patch", root, model="gpt-4o", messages=seen, reply=patch)
        draft.leaf("apply_patch", "TOOL", root, (5, 40), input={"path": path}, output={"applied": True})
    if fail_tool:
        error = f"Agent stopped after {attempts} attempts: tests still failing"
        return Turn(task, "I could not make the tests pass.", error=error, tags=["loop"])
    answer = f"Fixed in {attempts} attempt(s): the parser now reads ISO dates month-first. 148 tests pass."
    draft.llm("final_answer", root, model="gpt-4o-mini", messages=messages, reply={"content": answer})
    return Turn(task, answer, tags=["loop"] if attempts >= 3 else [])


def travel_booker(draft: TraceDraft, root: str, trip: str, *, fail_tool: bool) -> Turn:
    """Search flights, book one; the airline API sometimes times out and fails the run."""
    rng = draft.rng
    question = f"Book me the cheapest flight {trip} next Thursday morning."
    messages = [_system("travel-booker"), _user(question)]
    draft.llm(
        "plan",
        root,
        model="gpt-4o-mini",
        messages=messages,
        reply=tool_call("search_flights", {"trip": trip}),
    )
    offer = {"flight": f"XY{rng.randint(100, 999)}", "price_usd": rng.randint(89, 420), "depart": "08:10"}
    draft.leaf("search_flights", "TOOL", root, (400, 2500), input={"trip": trip}, output={"offers": [offer]})
    booking = draft.leaf(
        "book_flight", "TOOL", root, (800, 30000 if fail_tool else 2500), input={"offer": offer["flight"]}
    )
    if fail_tool:
        fail(booking, "TimeoutError: airline booking API did not answer within 30 s")
        answer = "The booking failed: the airline did not answer. Nothing was charged."
        return Turn(question, answer, error="book_flight failed: TimeoutError", tags=["booking-failed"])
    booking["output"] = {"confirmation": f"K{rng.randint(10000, 99999)}", "price_usd": offer["price_usd"]}
    answer = f"Booked {offer['flight']} ({trip}) on Thursday 08:10 for ${offer['price_usd']}."
    draft.llm("confirm", root, model="gpt-4o-mini", messages=messages, reply={"content": answer})
    return Turn(question, answer)


def sql_analyst(draft: TraceDraft, root: str, question: str, *, fail_tool: bool) -> Turn:
    """Text to SQL in a chain; with `fail_tool` the first query names a missing column and is retried."""
    messages = [_system("sql-analyst"), _user(question)]
    chain = draft.open("text_to_sql", "CHAIN", root, input={"question": question})
    tables = {"tables": ["orders", "customers", "regions"]}
    draft.leaf(
        "schema_lookup", "RETRIEVER", chain["span_id"], (20, 120), input={"question": question}, output=tables
    )
    queries = ["SELECT region, SUM(revenue) FROM orders GROUP BY region"] if fail_tool else []
    queries.append(
        "SELECT r.name, SUM(o.amount_usd) FROM orders o JOIN regions r ON r.id = o.region_id GROUP BY 1"
    )
    for sql in queries:
        draft.llm("generate_sql", chain["span_id"], model="gpt-4o", messages=messages, reply={"content": sql})
        run = draft.leaf("run_sql", "TOOL", chain["span_id"], (50, 900), input={"sql": sql})
        if sql is queries[-1]:
            run["output"] = {"rows": 4, "columns": ["name", "sum"]}
        else:
            fail(run, 'psycopg.errors.UndefinedColumn: column "revenue" does not exist')
    draft.close(chain, output={"sql": queries[-1]})
    answer = "EMEA led with $1.92M, then NA ($1.75M), APAC ($0.88M) and LATAM ($0.31M)."
    draft.llm("explain", root, model="gpt-4o-mini", messages=messages, reply={"content": answer})
    return Turn(question, answer, tags=["sql-retry"] if fail_tool else [])


Agent = Callable[..., Turn]
# name: (the agent, what users ask it, how often one of its tools fails, its tags)
AGENTS: dict[str, tuple[Agent, list[str], float, list[str]]] = {
    "support-agent": (support_agent, SUPPORT_QUESTIONS, 0.15, ["support"]),
    "research-assistant": (research_assistant, RESEARCH_QUESTIONS, 0.2, ["research"]),
    "coding-agent": (coding_agent, CODING_TASKS, 0.35, ["coding"]),
    "travel-booker": (travel_booker, TRIPS, 0.4, ["travel"]),
    "sql-analyst": (sql_analyst, SQL_QUESTIONS, 0.3, ["analytics"]),
}
