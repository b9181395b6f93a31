"""Tables that read as well in an 80-column log as on a wide terminal.

Rich fits a table that is too wide by cutting headers and cells to `…`, and output
that is not a terminal (a CI log, `make demo | tee`) is 80 columns wide. So a table
with many columns comes in two layouts, `Fitting(full, compact)`: the full one where
it fits whole, the compact one (fewer or merged columns, short headers and a legend)
otherwise.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table

# Wider than any table here: measured at this width, a table reports its natural
# width, the one it needs to show every cell on one line.
UNBOUNDED = 10_000


class Fitting:
    """The first layout whose natural width fits where it is printed, else the last.

    Chosen when printed, not when built: inside `Live`, a `Group` or a panel the space
    is what the parent gives, which the code building the table cannot know.
    """

    def __init__(self, *layouts: RenderableType) -> None:
        if not layouts:
            raise ValueError("Fitting needs at least one layout")
        self.layouts = layouts

    def choose(self, console: Console, options: ConsoleOptions) -> RenderableType:
        unbounded = options.update_width(UNBOUNDED)
        for layout in self.layouts[:-1]:
            if Measurement.get(console, unbounded, layout).maximum <= options.max_width:
                return layout
        return self.layouts[-1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.choose(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.choose(console, options))


# box.SIMPLE_HEAD (no edges, no vertical rules, a rule under the header) except that the
# rule breaks between columns, showing where each starts when cells wrap.
COMPACT_BOX = box.Box(
    "    \n"  # top
    "    \n"  # header cells
    " ─  \n"  # under the header: left edge, rule, between columns, right edge
    "    \n"  # body cells
    "    \n"  # between rows
    "    \n"  # above a footer
    "    \n"  # footer cells
    "    \n"  # bottom
)


def compact_table(
    *headers: Column | str, title: str | None = None, caption: str | None = None
) -> Table:
    """A table without side edges or vertical rules, its columns two spaces apart.

    A boxed table spends 3 characters a column on rules and padding, this one 2: with
    eight or nine columns that difference is what lets a table fit in 80.
    """
    return Table(
        *headers,
        title=title,
        caption=caption,
        caption_justify="left",
        box=COMPACT_BOX,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
