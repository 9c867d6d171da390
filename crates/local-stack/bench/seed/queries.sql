-- The bench's search vocabulary: what readers type, most popular first
-- (the scenarios draw a rank by Zipf's law). Eight kinds of query take
-- turns down the list — a brand, a camera family, a Spanish, English and
-- Portuguese term, two words together, a subject's exact model, a rare
-- word — so the head holds what many people search (brands, families,
-- common terms) and the tail the specific and the rare.
WITH brands AS (
    SELECT rank AS i, lower(brand) AS q FROM rcr_bench.brands
), families AS (
    SELECT row_number() OVER (ORDER BY b.rank, f.ord) AS i, lower(f.family) AS q
      FROM rcr_bench.brands b, unnest(b.families) WITH ORDINALITY AS f(family, ord)
), terms AS (
    SELECT rank AS i, language,
           -- Most people type without accents (search folds them).
           CASE WHEN rank % 3 = 0 THEN word ELSE unaccent(word) END AS q
      FROM rcr_bench.terms
), pairs AS (
    SELECT i, CASE WHEN i % 2 = 0
                   THEN (SELECT lower(brand) FROM rcr_bench.brands WHERE rank = 1 + i % 7) || ' '
                        || (SELECT unaccent(word) FROM rcr_bench.terms WHERE language = 'en' AND rank = 1 + i % 120)
                   ELSE (SELECT unaccent(word) FROM rcr_bench.terms WHERE language = 'es' AND rank = 1 + i % 90) || ' '
                        || (SELECT unaccent(word) FROM rcr_bench.terms WHERE language = 'es' AND rank = 1 + (i * 7) % 160) END AS q
      FROM generate_series(1, 600) i
), models AS (
    SELECT n AS i, lower(brand || ' ' || model) AS q FROM rcr_bench.subjects WHERE n <= 600
), rare AS (
    -- Ranks 1,000 to 30,000 of the tail, evenly on a log scale: words
    -- found in a few per cent of the reviews down to one in a thousand.
    SELECT j AS i, word AS q
      FROM generate_series(0, 599) j
      JOIN rcr_bench.words ON language = 'es' AND rank = 200 + floor(1000 * 30 ^ (j / 600.0))::int
), turns AS (
    SELECT i, 1 AS kind, q FROM brands
    UNION ALL SELECT i, 2, q FROM families
    UNION ALL SELECT i, 3, q FROM terms WHERE language = 'es'
    UNION ALL SELECT i, 4, q FROM terms WHERE language = 'en'
    UNION ALL SELECT i, 5, q FROM terms WHERE language = 'pt'
    UNION ALL SELECT i, 6, q FROM pairs
    UNION ALL SELECT i, 7, q FROM models
    UNION ALL SELECT row_number() OVER (ORDER BY i), 8, q FROM rare
)
SELECT q FROM turns GROUP BY q ORDER BY min(i * 8 + kind);
