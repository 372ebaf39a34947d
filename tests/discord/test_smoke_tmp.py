import pytest

@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_ask(discord):
    result = await discord.slash("ask", question="hello there")
    print(result.interaction.callbacks, result.contents, result.status)
    assert result.deferred
