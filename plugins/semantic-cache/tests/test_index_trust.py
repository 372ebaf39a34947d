"""After an unclean stop the index file never lends a vector to the wrong row (issue 9, item 13),
and a failed store keeps the entries it would have replaced (item 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from intelbot import Source, TurnContext, Usage
from intelbot.embedding import Embedder
from intelbot.embedding.prompt import embedding_text
from intelbot.kernel import Kernel
from intelbot.testing.kernels import loaded_plugin
from intelbot.testing.llm_servers import OpenAIServer, Reply
from intelbot_semantic_cache.plugin import SemanticCachePlugin
from intelbot_semantic_cache.scope import prompt_key
from intelbot_semantic_cache.store import ENTRIES, CacheEntry

QUESTIONS = ["How do I reset my password?", "What are the server rules?", "When is the next community event?"]


def settings_for(directory: Path, **extra: Any) -> dict[str, Any]:
    return {"data_dir": str(directory), "plugins": {"semantic_cache": {"similarity_threshold": 0.9}}, **extra}


async def boot(make_kernel: Any, directory: Path, embedder: Embedder) -> tuple[Kernel, SemanticCachePlugin]:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=embedder)], settings=settings_for(directory)
    )
    return kernel, loaded_plugin(kernel, SemanticCachePlugin)


async def test_an_id_given_to_another_row_after_the_index_was_saved_makes_the_file_untrusted(
    make_kernel: Any, minilm: Embedder, tmp_path: Path
) -> None:
    directory = tmp_path / "data"
    kernel, plugin = await boot(make_kernel, directory, minilm)
    for question in QUESTIONS:
        await kernel.ask(question, TurnContext(guild_id=7))
    await kernel.stop()  # the index file is saved with ids 1, 2, 3
    # What an unclean stop followed by SQLite's id reuse leaves: id 3 now names another question, with
    # its own vector; the ids in the database still match the file's.
    question = "Which programming language should I learn first?"
    vector = (await minilm.embed([embedding_text(question)]))[0]
    kernel, plugin = await boot(make_kernel, directory, minilm)
    assert plugin.cache is not None
    scope = plugin.cache.entries[3].scope
    await kernel.stop()
    async with kernel.database.engine.begin() as connection:
        await connection.execute(
            update(ENTRIES)
            .where(ENTRIES.c.id == 3)
            .values(
                prompt=question,
                prompt_key=prompt_key(scope, question),
                answer="Python is a good first language.",
                created_at=ENTRIES.c.created_at + 1,
                vector=np.asarray(vector, dtype=np.float32).tobytes(),
            )
        )
    kernel, plugin = await boot(make_kernel, directory, minilm)
    assert plugin.cache is not None
    assert "rows differ from the database" in plugin.cache.index_status
    paraphrase = await kernel.ask("What programming language should I learn first?", TurnContext(guild_id=7))
    assert paraphrase.source is Source.CACHE and paraphrase.text == "Python is a good first language."
    assert (await kernel.ask("When's the next community event?", TurnContext(guild_id=7))).source is Source.PROVIDER


async def test_sqlite_never_gives_a_deleted_id_to_a_new_entry(
    make_kernel: Any, minilm: Embedder, tmp_path: Path
) -> None:
    kernel, plugin = await boot(make_kernel, tmp_path / "data", minilm)
    for question in QUESTIONS:
        await kernel.ask(question, TurnContext(guild_id=7))
    assert plugin.cache is not None
    assert await plugin.cache.remove([3], "cleared") == 1
    await kernel.ask("Who moderates this server?", TurnContext(guild_id=7))
    async with kernel.database.engine.connect() as connection:
        ids = (await connection.execute(select(ENTRIES.c.id).order_by(ENTRIES.c.id))).scalars().all()
    assert ids == [1, 2, 4]


@pytest.mark.postgres
async def test_a_store_the_database_refuses_keeps_the_entry_it_would_replace(
    make_kernel: Any, minilm: Embedder, openai_server: OpenAIServer, postgres_url: str
) -> None:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=minilm)],
        settings={
            "database_url": postgres_url,
            "llm": {"default_model": "gpt-4o-mini", "max_attempts": 1},
            "providers": {"openai": openai_server.provider_settings()},
            "plugins": {"semantic_cache": {"similarity_threshold": 0.9}},
        },
    )
    plugin = loaded_plugin(kernel, SemanticCachePlugin)
    openai_server.script(Reply("Be kind; no spam."))
    first = await kernel.ask("What are the server rules?", TurnContext(guild_id=7))
    assert plugin.cache is not None
    (entry,) = plugin.cache.entries.values()
    assert isinstance(entry, CacheEntry)
    with pytest.raises(DBAPIError, match="0x00"):  # PostgreSQL refuses U+0000 in text
        await plugin.cache.put_many(
            [(entry.scope, 7, entry.prompt, "a\x00b", "gpt-4o-mini", "openai", Usage(1, 1), 0.0)], None
        )
    again = await kernel.ask("What are the server rules?", TurnContext(guild_id=7))
    assert again.source is Source.CACHE and again.text == first.text
