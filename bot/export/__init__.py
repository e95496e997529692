"""`paperbot export`: a channel's topics as DailyArXiv's Markdown, Atom, JSON, CSV or BibTeX."""
