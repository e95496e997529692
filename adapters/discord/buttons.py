"""A digest card's buttons on Discord, "Abstract", "More like this" and "BibTeX", and its 👍 / 👎 reactions.

The buttons are discord.py dynamic items: the paper's id is in the button's custom_id, so a
click on a card posted days ago, before a restart, still works, and nothing is kept in memory
per posted card. A click is handed to the client as the `card_button` event; the adapter runs
`/abstract <id>`, `/papers like:<id>` or `/bibtex <id>` for the person who clicked (only they see
the answer).
"""

from __future__ import annotations

import re
from typing import Any

import discord

ABSTRACT, MORE_LIKE, BIBTEX = "abstract", "more", "bibtex"
_TEMPLATE = r"paperbot:(?P<action>abstract|more|bibtex):(?P<paper>[A-Za-z0-9./-]{1,40})"
LABELS = {ABSTRACT: "Abstract", MORE_LIKE: "More like this", BIBTEX: "BibTeX"}

# 👍 and 👎, with or without a skin tone (and the variation selector some keyboards add).
LIKE, DISLIKE = "\N{THUMBS UP SIGN}", "\N{THUMBS DOWN SIGN}"
_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


def reaction_value(emoji: str) -> int | None:
    """1 for a 👍, -1 for a 👎, None for any other reaction (custom emoji included)."""
    base = _MODIFIERS.sub("", emoji)
    return 1 if base == LIKE else -1 if base == DISLIKE else None


class CardButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=_TEMPLATE):
    """One of a card's buttons; its custom_id carries the action and the paper."""

    def __init__(self, action: str, paper_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=LABELS[action],
                style=discord.ButtonStyle.secondary,
                custom_id=f"paperbot:{action}:{paper_id}",
            )
        )
        self.action = action
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CardButton:
        return cls(match["action"], match["paper"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # The adapter answers: dispatched to the client's `on_card_button`, as a task of its own.
        interaction.client.dispatch("card_button", interaction, self.action, self.paper_id)


def card_view(paper_id: str) -> discord.ui.View | None:
    """The buttons of the card about `paper_id` (None when the card names no arXiv paper)."""
    if not re.fullmatch(r"[A-Za-z0-9./-]{1,40}", paper_id):
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CardButton(ABSTRACT, paper_id))
    view.add_item(CardButton(MORE_LIKE, paper_id))
    view.add_item(CardButton(BIBTEX, paper_id))
    return view
