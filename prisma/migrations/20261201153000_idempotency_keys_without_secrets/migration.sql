-- (No semicolon inside the string literal below: migration scripts are split on them.)
-- Idempotency keys stored before answers showing a secret were kept out of this table and
-- request fingerprints were keyed: an integration's client_secret is replaced by the answer a
-- replay gets now (410 SECRET_NOT_REPLAYABLE, with the created record's Location), and the
-- unsalted request digests, guessable for a body holding a password, are dropped, so reusing
-- one of those keys answers 422 IDEMPOTENCY_KEY_REUSED instead of running the request again.
UPDATE "idempotency_keys"
SET "response_status" = 410,
    "response_body" = '{"errors":[{"title":"Gone","detail":"The answer to the first request with this Idempotency-Key carried a secret shown only once, so it was not stored and cannot be shown again.","code":"SECRET_NOT_REPLAYABLE","status":"410","source":{"header":"Idempotency-Key"}}]}',
    "response_headers" = jsonb_build_object('content-type', 'application/vnd.api+json')
      || CASE WHEN "response_headers" ? 'location' THEN jsonb_build_object('location', "response_headers" -> 'location') ELSE '{}'::jsonb END
WHERE "response_body" LIKE '%"client_secret":"%';

UPDATE "idempotency_keys" SET "request_hash" = 'unkeyed digest removed';
