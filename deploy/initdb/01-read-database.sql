-- The read model lives in its own database on the same server (READ_DATABASE_URL).
CREATE DATABASE semsearch_read;
\connect semsearch_read
CREATE EXTENSION IF NOT EXISTS vector;
