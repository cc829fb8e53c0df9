-- The key form (docs/contracts/data-model.md §4 rule 3): the one definition of "the same e-mail / the same name" for
-- every identity key the database computes (backfill plan and batches, gates, import decisions, review
-- queue). Its Python twin is include/normalize/keys.py; tests/normalize/test_key_form_property.py proves
-- on both servers that the two give the same key for the same text.
-- Reads: nothing. Writes: functions in schema patient_pipeline only.
-- Safe to re-run: CREATE OR REPLACE; the DO block only checks the database.
--
-- The characters (the same lists as keys.py):
--   white space      U+0009-U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029,
--                    U+202F, U+205F, U+3000 (Unicode White_Space)
--   invisible format U+00AD soft hyphen, U+061C, U+180E, U+200B-U+200D zero-width space/non-joiner/
--                    joiner, U+200E/U+200F and U+202A-U+202E and U+2066-U+2069 bidi marks, U+2060 word
--                    joiner, U+2061-U+2064, U+FEFF zero-width no-break space (BOM)
-- The key form of a text: invisible format characters removed everywhere, Unicode NFKC, white-space runs
-- folded to one space and removed at both ends, spaces around a hyphen dropped ("Anne - Marie" =
-- "Anne-Marie"), lower-cased. The e-mail key removes every white space instead of folding it.
-- Stored values are trim_noise(): what was typed, without white space and format characters at both ends.
--
-- Cost: all are LANGUAGE sql IMMUTABLE PARALLEL SAFE single expressions, so PostgreSQL inlines them into
-- the calling statement. The common value (printable ASCII without a space: almost every e-mail and
-- first name) takes the fast path, lower(x) after one regular-expression test; other ASCII (spaces, tabs,
-- CR/LF) skips normalize() and the format characters (NFKC leaves ASCII as it is); only non-ASCII text
-- pays for normalize() and the regular expressions (regexp_replace, not translate(): with a multibyte
-- character list translate() costs several times more per row). Measured: include/bench/key_form_ab.py,
-- BENCHMARKS.md "Key form". lower() follows the database's LC_CTYPE, like the lower(btrim()) key it
-- replaces; the check at the end refuses a database where it would not fold non-ASCII letters.

-- What was typed, trimmed of white space and invisible format characters at both ends (NULL stays NULL).
CREATE OR REPLACE FUNCTION patient_pipeline.trim_noise(x text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT btrim(x, E'\u0009\u000A\u000B\u000C\u000D\u0020\u0085\u00A0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u2028\u2029\u202F\u205F\u3000\u00AD\u061C\u180E\u200B\u200C\u200D\u200E\u200F\u202A\u202B\u202C\u202D\u202E\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\uFEFF')
$$;

-- The key form of a name (or any identity text): see the header. '' for a text of noise only.
CREATE OR REPLACE FUNCTION patient_pipeline.key_form(x text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        -- printable ASCII without a space: already in key form but for case
        WHEN x !~ '[^!-~]' THEN lower(x)
        -- other ASCII (spaces, tab, CR/LF): NFKC changes nothing and there is no format character
        WHEN octet_length(x) = length(x) THEN
            lower(regexp_replace(btrim(regexp_replace(x, '[\u0009-\u000D\u0020]+', ' ', 'g'), ' '), ' ?- ?', '-', 'g'))
        ELSE lower(regexp_replace(btrim(regexp_replace(
                 normalize(regexp_replace(x, '[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]+', '', 'g'), NFKC),
                 '[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+', ' ', 'g'),
                 ' '), ' ?- ?', '-', 'g'))
    END
$$;

-- The key form of an e-mail address: as key_form, but without any white space at all (not even inside).
CREATE OR REPLACE FUNCTION patient_pipeline.email_key(x text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN x !~ '[^!-~]' THEN lower(x)
        WHEN octet_length(x) = length(x) THEN lower(translate(x, E'\u0009\u000A\u000B\u000C\u000D\u0020', ''))
        ELSE lower(regexp_replace(
                 normalize(regexp_replace(x, '[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]+', '', 'g'), NFKC),
                 '[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+', '', 'g'))
    END
$$;

-- The keys need a UTF-8 database whose LC_CTYPE folds non-ASCII letters (C.UTF-8, en_US.UTF-8, ICU):
-- with LC_CTYPE C, lower('É') is 'É' and the database's keys would disagree with the application's.
DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'patient_pipeline needs a UTF8 database for the identity key form'
            USING HINT = 'create the application database with ENCODING ''UTF8''';
    END IF;
    IF lower(E'\u00C9\u03A3\u0416') <> E'\u00E9\u03C3\u0436' THEN
        RAISE EXCEPTION 'lower() of this database does not fold non-ASCII letters (LC_CTYPE C?): identity keys would disagree with the application'
            USING HINT = 'use a database with LC_CTYPE C.UTF-8 or en_US.UTF-8 (or an ICU locale)';
    END IF;
END
$$;
