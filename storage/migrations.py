"""Versioned schema migrations.

Each entry upgrades the schema from version N-1 to N; `PRAGMA user_version`
holds the current number. Migrations are append-only: never edit one that has
shipped, add the next. Each runs inside one transaction with the version bump.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the whole domain, including tables later features fill in.
    (
        """
        CREATE TABLE channels (
            id                INTEGER PRIMARY KEY,
            platform          TEXT NOT NULL,
            workspace         TEXT NOT NULL,
            channel_id        TEXT NOT NULL,
            name              TEXT NOT NULL DEFAULT '',
            timezone          TEXT,             -- NULL: the configured default
            post_time         TEXT,             -- 'HH:MM' or 'asap'; NULL: default
            max_papers        INTEGER,          -- NULL: default
            paused            INTEGER NOT NULL DEFAULT 0,
            unreachable_since TEXT,             -- set when posting failed for good
            unreachable_error TEXT,
            unreachable_retry_at TEXT,          -- when to try posting again (backoff)
            unreachable_attempts INTEGER NOT NULL DEFAULT 0,
            created_at        TEXT NOT NULL,
            UNIQUE (platform, workspace, channel_id)
        )
        """,
        """
        CREATE TABLE subscriptions (
            id          INTEGER PRIMARY KEY,
            channel     INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            query       TEXT NOT NULL,          -- canonical form: duplicates are detected on it
            raw_query   TEXT NOT NULL,          -- as the user typed it
            created_by  TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            UNIQUE (channel, query)
        )
        """,
        """
        CREATE TABLE papers (
            arxiv_id         TEXT PRIMARY KEY,  -- without version
            version          INTEGER NOT NULL,  -- newest seen
            title            TEXT NOT NULL,
            abstract         TEXT NOT NULL,
            authors          TEXT NOT NULL,     -- JSON array
            categories       TEXT NOT NULL,     -- JSON array, primary first
            comment          TEXT,
            journal_ref      TEXT,
            doi              TEXT,
            published        TEXT,
            updated          TEXT,
            announced        TEXT,              -- date of first announcement (YYYY-MM-DD)
            announce_type    TEXT,
            -- when a harvest first stored it as announced: a subscription gets the papers
            -- harvested after it was created (a paper fetched earlier by a lookup has NULL)
            harvested_at     TEXT,
            first_seen       TEXT NOT NULL,
            last_seen        TEXT NOT NULL
        )
        """,
        "CREATE INDEX papers_announced ON papers (announced)",
        "CREATE INDEX papers_harvested ON papers (harvested_at)",
        """
        CREATE TABLE digests (
            id                 INTEGER PRIMARY KEY,
            channel            INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            announced          TEXT NOT NULL,   -- the newest announcement day it covers
            header             TEXT NOT NULL,   -- the parent post, kept so a resume can finish it
            lines              TEXT NOT NULL,   -- JSON array
            footer             TEXT NOT NULL DEFAULT '',
            parent_message_id  TEXT,            -- set once the parent is posted
            created_at         TEXT NOT NULL,
            completed_at       TEXT
        )
        """,
        """
        CREATE TABLE deliveries (
            channel      INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            arxiv_id     TEXT NOT NULL REFERENCES papers(arxiv_id),
            digest       INTEGER REFERENCES digests(id) ON DELETE SET NULL,
            position     INTEGER,               -- order within the digest thread
            queries      TEXT NOT NULL,         -- JSON array of the canonical queries that matched
            why          TEXT NOT NULL DEFAULT '[]',  -- JSON: matched fields and words
            message_id   TEXT,                  -- platform id once posted
            state        TEXT NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'posted', 'overflow')),
            created_at   TEXT NOT NULL,
            posted_at    TEXT,
            PRIMARY KEY (channel, arxiv_id)
        )
        """,
        "CREATE INDEX deliveries_pending ON deliveries (channel, state)",
        "CREATE INDEX digests_open ON digests (channel, completed_at)",
        """
        CREATE TABLE harvest_runs (
            id           INTEGER PRIMARY KEY,
            started_at   TEXT NOT NULL,
            finished_at  TEXT,
            announced    TEXT,                  -- announcement day harvested
            status       TEXT NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'ok', 'empty', 'no_announcement', 'failed')),
            requests     INTEGER NOT NULL DEFAULT 0,
            new          INTEGER NOT NULL DEFAULT 0,
            cross        INTEGER NOT NULL DEFAULT 0,
            replaced     INTEGER NOT NULL DEFAULT 0,
            error        TEXT
        )
        """,
        "CREATE INDEX harvest_runs_announced ON harvest_runs (announced, status)",
    ),
    # 2: a write-ahead ledger. Each message of a digest records its intent (when it was about to be
    # sent) before the send and its platform id after, so a restart can tell "never sent" from
    # "sent, id not recorded" by asking the platform for the message's delivery key.
    (
        "ALTER TABLE digests ADD COLUMN key TEXT",  # delivery keys are '<key>.p', '<key>.<position>', ...
        "UPDATE digests SET key = 'd' || id WHERE key IS NULL",  # digests planned before this version
        "ALTER TABLE digests ADD COLUMN parent_sending_at TEXT",
        "ALTER TABLE digests ADD COLUMN footer_sending_at TEXT",
        "ALTER TABLE digests ADD COLUMN footer_message_id TEXT",
        "ALTER TABLE deliveries ADD COLUMN sending_at TEXT",
    ),
    # 3: every announcement day accounted for: how far each was read, so missed and partial days are
    # read again by later harvests. Days harvested before this table existed are carried over.
    (
        """
        CREATE TABLE announcement_days (
            day          TEXT PRIMARY KEY,            -- announcement date (YYYY-MM-DD, US Eastern)
            state        TEXT NOT NULL DEFAULT 'missing'
                         CHECK (state IN ('complete', 'partial', 'missing')),
            sources      TEXT NOT NULL DEFAULT '{}',  -- JSON: category -> feed | api | failed
            requests     INTEGER NOT NULL DEFAULT 0,  -- arXiv requests spent on it, all runs together
            first_read   TEXT,                        -- when papers of the day were first stored
            last_tried   TEXT,                        -- the last run that worked on it
            error        TEXT,                        -- why it is not complete
            not_before   TEXT                         -- arXiv's Retry-After: ask nothing before this
        )
        """,
        """
        INSERT OR IGNORE INTO announcement_days (day, state, requests, first_read, last_tried, error)
        SELECT announced,
               CASE WHEN MIN(error IS NOT NULL) = 0 THEN 'complete' ELSE 'partial' END,
               SUM(requests), MIN(finished_at), MAX(finished_at),
               CASE WHEN MIN(error IS NOT NULL) = 0 THEN NULL ELSE MIN(error) END
        FROM harvest_runs
        WHERE status = 'ok' AND announced IS NOT NULL
        GROUP BY announced
        """,
    ),
    # 4: a one-row table that /healthz writes to: proof that the database still takes writes.
    (
        """
        CREATE TABLE IF NOT EXISTS health_checks (
            id         INTEGER PRIMARY KEY CHECK (id = 1),
            checked_at TEXT NOT NULL
        )
        """,
    ),
    # 5: relevance beyond keywords. Reactions (👍/👎, /like, /dislike) per channel, who and when; a
    # channel may turn learning from them off; a card's message id finds its (channel, paper).
    (
        """
        CREATE TABLE reactions (
            channel     INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
            arxiv_id    TEXT NOT NULL,
            user_id     TEXT NOT NULL,
            value       INTEGER NOT NULL CHECK (value IN (1, -1)),  -- 1: like, -1: dislike
            source      TEXT NOT NULL,          -- reaction | command
            created_at  TEXT NOT NULL,
            PRIMARY KEY (channel, arxiv_id, user_id, value)
        )
        """,
        "ALTER TABLE channels ADD COLUMN learn INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries (message_id)",
    ),
    # 6: one-sentence TL;DRs written by an LLM, once per paper, and the requests spent per day.
    (
        """
        CREATE TABLE summaries (
            arxiv_id    TEXT PRIMARY KEY,
            version     INTEGER NOT NULL,       -- the version whose abstract was summarised
            model       TEXT NOT NULL,
            text        TEXT NOT NULL,
            created_at  TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE llm_usage (
            day         TEXT PRIMARY KEY,       -- UTC date
            requests    INTEGER NOT NULL DEFAULT 0,
            failures    INTEGER NOT NULL DEFAULT 0
        )
        """,
    ),
    # 7: full-text search (/papers, the /track preview), and the digest run's lookups. Each paper
    # gets a search key that orders papers by last update or announcement, whichever is later
    # (its second << 20, plus a sequence within the second) and is its row in `paper_search`,
    # so "the newest n matches" is FTS5 reading its own rowids backwards.
    # The index holds the matcher's tokens (bot.matching.fulltext), not paper text: the paperbot_* functions
    # are registered on every connection by storage.search before migrations run.
    (
        "ALTER TABLE papers ADD COLUMN search_key INTEGER",
        """
        CREATE TEMP TABLE paper_keys (arxiv_id TEXT PRIMARY KEY, search_key INTEGER NOT NULL)
        """,
        """
        INSERT INTO temp.paper_keys (arxiv_id, search_key)
        SELECT arxiv_id, (secs << 20) + ROW_NUMBER() OVER (PARTITION BY secs ORDER BY arxiv_id) - 1
        FROM (
            SELECT arxiv_id,
                   MAX(COALESCE(CAST(strftime('%s', updated) AS INTEGER), 0),
                       COALESCE(CAST(strftime('%s', published) AS INTEGER), 0),
                       COALESCE(CAST(strftime('%s', announced) AS INTEGER), 0)) AS secs
            FROM papers
        )
        """,
        """
        UPDATE papers SET search_key =
            (SELECT k.search_key FROM temp.paper_keys k WHERE k.arxiv_id = papers.arxiv_id)
        """,
        "DROP TABLE temp.paper_keys",
        "CREATE UNIQUE INDEX papers_search_key ON papers (search_key)",
        # A digest run asks which of the day's papers each channel already got, for all at once.
        "CREATE INDEX deliveries_paper ON deliveries (arxiv_id)",
        """
        CREATE VIRTUAL TABLE paper_search USING fts5 (
            title, abstract, authors, categories, archives,
            content = '', columnsize = 0, tokenize = "ascii tokenchars '.-'"
        )
        """,
        """
        INSERT INTO paper_search (rowid, title, abstract, authors, categories, archives)
        SELECT search_key, paperbot_text_tokens(title), paperbot_text_tokens(abstract),
               paperbot_author_tokens(authors), paperbot_category_tokens(categories),
               paperbot_archive_tokens(categories)
        FROM papers
        """,
    ),
    # 8: Hugging Face's daily papers: each day's list as read (most upvoted first), and how many of
    # a day's top papers a channel's digest adds (0: none).
    (
        """
        CREATE TABLE IF NOT EXISTS trending_days (
            day         TEXT PRIMARY KEY,       -- the date Hugging Face files the list under
            fetched_at  TEXT NOT NULL,
            papers      INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS trending_papers (
            day         TEXT NOT NULL REFERENCES trending_days(day) ON DELETE CASCADE,
            rank        INTEGER NOT NULL,       -- 0: the most upvoted
            arxiv_id    TEXT NOT NULL,
            upvotes     INTEGER NOT NULL,
            comments    INTEGER NOT NULL DEFAULT 0,
            title       TEXT NOT NULL,
            summary     TEXT NOT NULL,
            authors     TEXT NOT NULL,          -- JSON array
            published   TEXT,
            PRIMARY KEY (day, arxiv_id)
        )
        """,
        "ALTER TABLE channels ADD COLUMN trending INTEGER NOT NULL DEFAULT 0",
    ),
    # 9: a digest run writes its whole ledger at once (400,000 rows at 100,000 subscriptions), and
    # each index costs every row. `deliveries_pending` served no query (the primary key starts with
    # the channel too); a card's message id is looked up only once it has one, so rows planned
    # without one need no entry in `deliveries_message`. Which of a run's papers each channel
    # already got is read by when the rows were written (a paper is offered only once harvested,
    # so its rows are no older than its harvest): an index that grows at its end, where one by
    # paper took an insert at a random place per row (0.7 s of a 100,000-subscription run).
    (
        "DROP INDEX IF EXISTS deliveries_pending",
        "DROP INDEX IF EXISTS deliveries_message",
        "CREATE INDEX deliveries_message ON deliveries (message_id) WHERE message_id IS NOT NULL",
        "DROP INDEX IF EXISTS deliveries_paper",
        "CREATE INDEX deliveries_created ON deliveries (created_at)",
    ),
    # 10: a digest's papers over its cap (its footer's "+27 more") are recorded with the digest, as
    # one JSON array of arXiv ids in rank order, not as a ledger row each. They were 70% of a run's
    # rows (273,000 of 392,000 at 100,000 subscriptions), each paying for the table and two
    # indexes, and nothing reads them but the check that a paper is never offered twice
    # (`DeliveryRepository.delivered_ids` and `delivered_among` read both). That check asks which
    # digests were written since a run's papers were harvested: `digests_created`.
    (
        "ALTER TABLE digests ADD COLUMN overflow TEXT NOT NULL DEFAULT '[]'",
        # (Aggregates follow the order of their subquery's rows in SQLite.)
        """
        UPDATE digests SET overflow = (
            SELECT json_group_array(arxiv_id) FROM (
                SELECT d.arxiv_id FROM deliveries d
                WHERE d.channel = digests.channel AND d.digest = digests.id AND d.state = 'overflow'
                ORDER BY d.position
            )
        )
        WHERE id IN (SELECT digest FROM deliveries WHERE state = 'overflow')
        """,
        # Rows whose digest is gone (never, but the schema allows it) stay: they are still honoured.
        "DELETE FROM deliveries WHERE state = 'overflow' AND digest IS NOT NULL",
        "CREATE INDEX digests_created ON digests (created_at)",
    ),
)

LATEST_VERSION = len(MIGRATIONS)
