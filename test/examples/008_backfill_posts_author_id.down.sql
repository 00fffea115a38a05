UPDATE posts SET author_id = NULL WHERE author_id IS NOT NULL;
