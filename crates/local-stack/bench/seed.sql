-- The bench's data set: 50 editors, 500 subjects, 10,000 published reviews
-- in Spanish, Portuguese and English with realistic lengths. Runs once:
-- nothing happens when the reviews are already there.
DO $$
DECLARE
    words text[] := ARRAY['cámara','lente','enfoque','sensor','imagen','vídeo','retrato','paisaje',
        'color','nitidez','batería','cuerpo','zoom','luz','noche','ruido','estabilizador','objetiva',
        'cor','foto','camera','lens','focus','image','battery','body','light','night','noise',
        'portrait','landscape','sharp','fast','weather','sealed','grip','menu','viewfinder',
        'autofocus','dynamic','range','colour','rendering','bokeh','contrast','detail'];
    brands text[] := ARRAY['Sony','Nikon','Canon','Fujifilm','Sigma','Tamron','Leica','Panasonic','Olympus','Pentax'];
    langs text[] := ARRAY['es','pt','en'];
    hash text;
BEGIN
    IF (SELECT count(*) FROM reviews WHERE slug LIKE 'bench-%') >= 10000 THEN
        RETURN;
    END IF;
    SELECT password_hash INTO hash FROM editors ORDER BY id LIMIT 1;
    INSERT INTO editors (email, name, password_hash)
    SELECT format('bench-editor-%s@rcr.local', g), format('Bench Editor %s', g), hash
      FROM generate_series(1, 50) g
    ON CONFLICT DO NOTHING;
    INSERT INTO subjects (kind, brand, model, slug, megapixels, focal_min_mm, focal_max_mm, max_aperture, release_year)
    SELECT CASE WHEN g % 2 = 0 THEN 'camera' ELSE 'lens' END,
           brands[1 + g % 10], format('BM-%s', g), format('bench-%s-bm-%s', lower(brands[1 + g % 10]), g),
           CASE WHEN g % 2 = 0 THEN 20 + g % 40 END,
           CASE WHEN g % 2 = 1 THEN 14 + g % 50 END,
           CASE WHEN g % 2 = 1 THEN 70 + g % 300 END,
           CASE WHEN g % 2 = 1 THEN 1.4 + (g % 5) END,
           2010 + g % 15
      FROM generate_series(1, 500) g
    ON CONFLICT DO NOTHING;
    INSERT INTO reviews (slug, subject_id, editor_id, title, summary, body, rating, pros, cons, language, status, published_at)
    SELECT format('bench-%s', g),
           (SELECT id FROM subjects WHERE slug LIKE 'bench-%' ORDER BY id OFFSET g % 500 LIMIT 1),
           (SELECT id FROM editors WHERE email LIKE 'bench-editor-%' ORDER BY id OFFSET g % 50 LIMIT 1),
           format('Review %s: %s %s %s', g, words[1 + g % 46], words[1 + (g * 7) % 46], words[1 + (g * 13) % 46]),
           left(repeat(words[1 + (g * 3) % 46] || ' ' || words[1 + (g * 5) % 46] || ' ', 20), 240),
           -- About 400 words: a few of the common review words, the rest from a
           -- 5,000-word tail, so that a search matches a realistic share.
           (SELECT string_agg(CASE WHEN i <= 8 THEN words[1 + ((g * 31 + i * 17) % 46)]
                                   ELSE 'w' || ((g * 7919 + i * 104729) % 5000) END, ' ')
              FROM generate_series(1, 400) i),
           (g % 21) / 2.0,
           ARRAY[words[1 + g % 46], words[1 + (g + 1) % 46]],
           ARRAY[words[1 + (g + 2) % 46]],
           langs[1 + g % 3], 'published',
           now() - make_interval(mins => g)
      FROM generate_series(1, 10000) g
    ON CONFLICT DO NOTHING;
    UPDATE content_state SET version = version + 1;
END
$$;
