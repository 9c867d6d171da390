-- The bench's data generator, part 2 of 3: reviews :first to :last (by
-- number g) in one set-based statement, over :subjects subjects and
-- :editors editors (prepare.sql). Newest first by number: review g is
-- published g × 5 minutes before 2026-11-30, and the statement inserts
-- the oldest first, so ids grow with the publication date as they do in
-- production (a later top-up to more reviews adds older ones).
--
-- The search-document trigger is off for this session
-- (session_replication_role = replica also skips the foreign-key checks:
-- every subject and editor drawn exists): the statement computes the
-- four vectors itself, as rcr_review_search_document() does, except that the
-- body's vector is its paragraphs' vectors concatenated (prepare.sql).
SET jit = off;
SET session_replication_role = replica;
INSERT INTO reviews (slug, subject_id, editor_id, title, summary, body, rating, pros, cons,
                     language, status, published_at, search_document, rank_document, title_document, heading_document)
SELECT 'bench-' || r.g, s.id, e.id, t.title, t.summary, b.body, r.rating, t.pros, t.cons,
       r.language, 'published', timestamptz '2026-11-30 12:00:00+00' - r.g * interval '5 minutes',
       h.head || setweight(b.vector, 'C'),
       h.head || setweight(to_tsvector(rcr_search_config(r.language), left(b.body, 500)), 'C'),
       rcr_title_document(t.title, rcr_search_config(r.language)),
       h.heading
  FROM (SELECT g,
               (ARRAY['es', 'pt', 'en'])[CASE WHEN rcr_bench.u(g, 1) < 0.45 THEN 1
                                              WHEN rcr_bench.u(g, 1) < 0.75 THEN 2 ELSE 3 END] AS language,
               -- Popular subjects and prolific editors: the first numbers are drawn most.
               1 + floor(:subjects * rcr_bench.u(g, 2) ^ 2)::int AS subject_n,
               1 + floor(:subjects * rcr_bench.u(g, 3))::int AS rival_n,
               1 + floor(:editors * rcr_bench.u(g, 4) ^ 1.5)::int AS editor_n,
               -- Paragraphs after the opening and the lead: 5 as the median, a long tail.
               least(60, floor(exp(1.7 + 0.6 * rcr_bench.normal(g, 5))))::int AS paragraphs,
               CASE WHEN rcr_bench.u(g, 6) >= 0.05
                    THEN greatest(0, least(10, round((7.6 + 1.3 * rcr_bench.normal(g, 7)) * 2) / 2)) END AS rating
          FROM generate_series(:last, :first, -1) g) r
 CROSS JOIN LATERAL (SELECT id, brand, model FROM rcr_bench.subjects WHERE n = r.subject_n OFFSET 0) s
 CROSS JOIN LATERAL (SELECT brand, model FROM rcr_bench.subjects WHERE n = r.rival_n OFFSET 0) rv
 CROSS JOIN LATERAL (SELECT id FROM rcr_bench.editors WHERE n = r.editor_n OFFSET 0) e
 -- Three terms for the title, summary and opening; pros and cons.
 CROSS JOIN LATERAL (
        SELECT (SELECT word FROM rcr_bench.terms WHERE language = r.language AND rank = rcr_bench.zipf(r.g, 10, 160)) AS t1,
               (SELECT word FROM rcr_bench.terms WHERE language = r.language AND rank = rcr_bench.zipf(r.g, 11, 160)) AS t2,
               (SELECT word FROM rcr_bench.terms WHERE language = r.language AND rank = rcr_bench.zipf(r.g, 12, 160)) AS t3,
               floor(5 * rcr_bench.u(r.g, 13))::int AS form,
               (SELECT p.body FROM rcr_bench.paragraphs p
                 WHERE p.language = r.language AND p.n = floor(20000 * rcr_bench.u(r.g, 14))::int) AS lead,
               ARRAY(SELECT (SELECT word FROM rcr_bench.terms
                              WHERE language = r.language AND rank = rcr_bench.zipf(r.g * 8 + i, 15, 160))
                            || CASE r.language WHEN 'es' THEN ' excelente' WHEN 'pt' THEN ' excelente' ELSE ' done well' END
                       FROM generate_series(1, 1 + floor(4 * rcr_bench.u(r.g, 16))::int) i) AS pros,
               ARRAY(SELECT (SELECT word FROM rcr_bench.terms
                              WHERE language = r.language AND rank = rcr_bench.zipf(r.g * 8 + i, 17, 160))
                            || CASE r.language WHEN 'es' THEN ' mejorable' WHEN 'pt' THEN ' a melhorar' ELSE ' could be better' END
                       FROM generate_series(1, 1 + floor(3 * rcr_bench.u(r.g, 18))::int) i) AS cons
        OFFSET 0) w
 CROSS JOIN LATERAL (
        SELECT CASE r.language
                 WHEN 'es' THEN (ARRAY[format('%s %s: %s y %s', s.brand, s.model, w.t1, w.t2),
                                       format('Análisis de la %s %s', s.brand, s.model),
                                       format('Probamos la %s %s: %s sin rival', s.brand, s.model, w.t1),
                                       format('%s %s, %s para %s', s.brand, s.model, w.t1, w.t2),
                                       format('%s %s a fondo', s.brand, s.model)])[1 + w.form]
                 WHEN 'pt' THEN (ARRAY[format('%s %s: %s e %s', s.brand, s.model, w.t1, w.t2),
                                       format('Análise da %s %s', s.brand, s.model),
                                       format('Testamos a %s %s: %s sem rival', s.brand, s.model, w.t1),
                                       format('%s %s, %s para %s', s.brand, s.model, w.t1, w.t2),
                                       format('%s %s a fundo', s.brand, s.model)])[1 + w.form]
                 ELSE (ARRAY[format('%s %s review: %s and %s', s.brand, s.model, w.t1, w.t2),
                             format('Hands-on with the %s %s', s.brand, s.model),
                             format('%s %s: %s without rival', s.brand, s.model, w.t1),
                             format('%s %s, %s for %s', s.brand, s.model, w.t1, w.t2),
                             format('%s %s in depth', s.brand, s.model)])[1 + w.form]
               END AS title,
               left(split_part(w.lead, '. ', 1) || '. ' || split_part(w.lead, '. ', 2) || '.', 480) AS summary,
               w.pros, w.cons
        OFFSET 0) t
 -- The opening names the subject (and, in a third of the reviews, a
 -- rival), then the lead paragraph and a few more from the pool.
 CROSS JOIN LATERAL (
        SELECT CASE r.language
                 WHEN 'es' THEN format('La %s %s destaca por su %s y su %s.', s.brand, s.model, w.t1, w.t3)
                 WHEN 'pt' THEN format('A %s %s se destaca pelo %s e pelo %s.', s.brand, s.model, w.t1, w.t3)
                 ELSE format('The %s %s stands out for its %s and its %s.', s.brand, s.model, w.t1, w.t3)
               END
               || CASE WHEN rcr_bench.u(r.g, 19) < 0.33 THEN
                    CASE r.language WHEN 'es' THEN format(' Frente a la %s %s, ', rv.brand, rv.model)
                                    WHEN 'pt' THEN format(' Diante da %s %s, ', rv.brand, rv.model)
                                    ELSE format(' Against the %s %s, ', rv.brand, rv.model) END
                    || lower(w.t2) || '.' ELSE '' END AS opening
        OFFSET 0) o
 CROSS JOIN LATERAL (
        SELECT o.opening || E'\n\n' || w.lead || coalesce(E'\n\n' || string_agg(p.body, E'\n\n' ORDER BY i), '') AS body,
               to_tsvector(rcr_search_config(r.language), o.opening || ' ' || w.lead)
               || coalesce(rcr_bench.tsvector_agg(p.vector ORDER BY i), '') AS vector
          FROM generate_series(1, r.paragraphs) i
          LEFT JOIN LATERAL (SELECT body, vector FROM rcr_bench.paragraphs
                              WHERE language = r.language
                                AND n = floor(20000 * rcr_bench.u(r.g * 64 + i, 20))::int OFFSET 0) p ON true) b
 -- Subject and title (A), summary, pros and cons (B): as the trigger.
 CROSS JOIN LATERAL (
        SELECT rcr_heading_document(s.brand || ' ' || s.model, t.title, rcr_search_config(r.language))
               AS heading
        OFFSET 0) ht
 CROSS JOIN LATERAL (
        SELECT ht.heading AS heading,
               ht.heading || setweight(to_tsvector(rcr_search_config(r.language),
                                        t.summary || ' ' || array_to_string(t.pros, ' ') || ' ' || array_to_string(t.cons, ' ')), 'B')
               AS head
        OFFSET 0) h
 ORDER BY r.g DESC;
