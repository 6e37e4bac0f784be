-- The one-time reveal (015) serves every secret shown once after a
-- redirect: an API key (new or rolled) and a webhook's signing secret (a
-- new endpoint or a rotation). kind says which; subject_id is the key's
-- or the endpoint's id. A reveal is opened only at the address of its
-- kind.
ALTER TABLE key_reveals RENAME TO reveals;
ALTER TABLE reveals RENAME COLUMN key_id TO subject_id;
ALTER TABLE reveals ADD COLUMN kind TEXT NOT NULL DEFAULT 'key';
