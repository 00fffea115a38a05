-- Development seed data, so that the later backfills have rows to work on.
-- Real reference data would be an idempotent upsert; demo rows are plain
-- inserts that the down script removes again by their natural keys.
INSERT INTO users (email, username) VALUES
    ('ada@example.com',   'ada'),
    ('grace@example.com', 'grace'),
    ('linus@example.com', 'linus');

INSERT INTO posts (author_name, title, body) VALUES
    ('ada',   'Notes on the analytical engine', 'It weaves algebraic patterns.'),
    ('ada',   'On Bernoulli numbers',           'Note G.'),
    ('grace', 'Finding the first bug',          'A moth in relay 70.'),
    ('linus', 'Just a hobby',                   'Won''t be big and professional.'),
    ('linus', 'Talk is cheap',                  'Show me the code.');

INSERT INTO orders (user_id, total_cents)
SELECT u.id, o.total_cents
FROM (VALUES ('ada', 1999), ('ada', 500), ('grace', 4250), ('linus', 120)) AS o (username, total_cents)
JOIN users u ON u.username = o.username;
