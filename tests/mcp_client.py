"""An MCP client (the official Python SDK, PyPI `mcp`) for tests/tests/mcp.rs: connects to
ragd over stdio (`ragd mcp`) or streamable HTTP (`/mcp`), lists the tools, calls each, and
prints what it got as JSON on stdout.

    python mcp_client.py stdio RAGD_BIN DATA_DIR KB DOC_ID
    python mcp_client.py http URL API_KEY KB DOC_ID
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def exercise(read, write, kb, doc_id):
    async with ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        out = {
            "tools": {
                t.name: {"description": t.description, "schema": t.input_schema}
                for t in tools.tools
            }
        }
        calls = {
            "list_knowledge_bases": ("list_knowledge_bases", {}),
            "list_documents": ("list_documents", {"knowledge_base": kb}),
            "get_document": (
                "get_document",
                {"knowledge_base": kb, "document_id": doc_id, "limit": 2},
            ),
            "search": (
                "search",
                {"query": "How do plants use sunlight?", "knowledge_bases": [kb], "top_k": 3},
            ),
            "search_filtered": (
                "search",
                {
                    "query": "bread",
                    "knowledge_bases": [kb],
                    "filters": {
                        "conditions": [
                            {"name": "topic", "comparison_operator": "is", "value": "baking"}
                        ]
                    },
                },
            ),
            "ask": (
                "ask",
                {"question": "How do plants use sunlight?", "knowledge_bases": [kb]},
            ),
            "search_unknown_kb": ("search", {"query": "x", "knowledge_bases": ["nope"]}),
        }
        for name, (tool, args) in calls.items():
            r = await session.call_tool(tool, args)
            text = "".join(c.text for c in r.content if getattr(c, "type", "") == "text")
            out[name] = {"is_error": bool(r.is_error), "text": text}
        print(json.dumps(out))


async def main():
    mode = sys.argv[1]
    if mode == "stdio":
        ragd, data_dir, kb, doc_id = sys.argv[2:6]
        params = StdioServerParameters(
            command=ragd, args=["mcp", "--data-dir", data_dir], env={"RAGD_LOG": "error"}
        )
        async with stdio_client(params) as (read, write):
            await exercise(read, write, kb, doc_id)
    else:
        url, key, kb, doc_id = sys.argv[2:6]
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with client:
            async with streamable_http_client(f"{url}/mcp", http_client=client) as (read, write):
                await exercise(read, write, kb, doc_id)


asyncio.run(main())
