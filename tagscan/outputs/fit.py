"""Terminal tables that fit the console's width: one line a row, never a split id.

Rich folds a cell that does not fit into several lines ("critica/l 100", a run id across two lines
that cannot be copied into ``tagscan diff``). Here, as git, pytest and ruff do, a table keeps one line
a row: columns that matter least are dropped first (each column says when, ``drop``), then free text
(a label's name, a group, a family) is shortened with an ellipsis down to a floor (``shrink``); ids,
numbers and level words are never cut. What was left out is named in one note below the table, so the
reader knows to widen the terminal or use ``--format json``.

:func:`fit_widths` is the pure rule (natural widths in, kept columns and their widths out);
:func:`fitted_table` builds the rich ``Table`` from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

__all__ = ["GAP", "Col", "dropped_note", "fit_widths", "fitted_table"]

#: Spaces between two columns (rich's cell padding of 1 on each side; none at the table's edges).
GAP = 2


@dataclass(frozen=True)
class Col:
    """One column: its header, alignment, when it is dropped and how far it may shrink.

    ``drop``: columns with a rank are dropped when the table is too wide, the lowest rank first; None:
    always shown. ``shrink``: the narrowest this column may become (free text only, cut with '…'); None:
    never cut (ids, numbers, levels).
    """

    name: str
    justify: str = "left"
    drop: int | None = None
    shrink: int | None = None


def _text_width(cell: object) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((cell_len(line) for line in text.splitlines()), default=0)


def fit_widths(natural: Sequence[int], cols: Sequence[Col], width: int) -> tuple[list[int], list[int]]:
    """(indices of the columns kept, their widths) so that the widths plus the gaps fit in ``width``.

    Drops droppable columns (lowest ``drop`` first) while the kept columns at their narrowest do not
    fit, then hands the room left to the shrinkable columns, in column order, up to their natural
    width. When even the columns that are always shown do not fit, they keep their narrowest widths
    and the table is wider than ``width`` (an id is never cut).
    """
    floor = [n if c.shrink is None else min(n, max(c.shrink, cell_len(c.name))) for n, c in zip(natural, cols)]
    kept = list(range(len(cols)))

    def need(idx: list[int]) -> int:
        return sum(floor[i] for i in idx) + GAP * max(len(idx) - 1, 0)

    droppable = sorted((c.drop, i) for i, c in enumerate(cols) if c.drop is not None)
    for _, i in droppable:
        if need(kept) <= width:
            break
        kept.remove(i)
    widths = {i: floor[i] for i in kept}
    room = width - need(kept)
    # The room left goes to the cut columns in column order (the label before the group before the family).
    for i in kept:
        add = max(min(natural[i] - widths[i], room), 0)
        widths[i] += add
        room -= add
    return kept, [widths[i] for i in kept]


def fitted_table(cols: Sequence[Col], rows: Sequence[Sequence[object]], width: int) -> tuple[Table, list[str]]:
    """A rich table of ``rows`` (cells as str or ``Text``) within ``width`` columns, one line a row, and
    the names of the columns left out."""
    natural = [max([cell_len(c.name), *(_text_width(r[i]) for r in rows)]) for i, c in enumerate(cols)]
    kept, widths = fit_widths(natural, cols, width)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold", expand=False)
    for i, w in zip(kept, widths):
        c = cols[i]
        table.add_column(c.name, justify=c.justify, no_wrap=True, overflow="ellipsis", min_width=w, max_width=w)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(*[r[i] if isinstance(r[i], Text) else Text(str(r[i])) for i in kept])
    return table, [c.name for i, c in enumerate(cols) if i not in kept]


def dropped_note(dropped: Sequence[str], width: int) -> str:
    """'(at 80 columns, not shown: expected, family; a wider terminal or --format json shows them)', or ''."""
    if not dropped:
        return ""
    return f"(at {width} columns, not shown: {', '.join(dropped)}; a wider terminal or --format json shows them)"
