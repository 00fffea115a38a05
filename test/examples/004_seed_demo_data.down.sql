DELETE FROM orders
WHERE user_id IN (SELECT id FROM users
                  WHERE email IN ('ada@example.com', 'grace@example.com', 'linus@example.com'));
DELETE FROM posts WHERE author_name IN ('ada', 'grace', 'linus');
DELETE FROM users WHERE email IN ('ada@example.com', 'grace@example.com', 'linus@example.com');
