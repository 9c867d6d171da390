-- The bench's data generator, part 1 of 3 (rcr-local bench, "Data at
-- size" in docs/BENCHMARKS.md): the schema rcr_bench with the generator's
-- functions, its vocabulary and paragraph pool (made once), and the
-- catalog topped up to :subjects subjects and :editors editors.
--
-- Everything is drawn from hashes of a row's number, not from random():
-- the same data set on every machine and every run, and a top-up (10,000
-- reviews, later 100,000) continues the data set it found.
SET jit = off;
CREATE SCHEMA IF NOT EXISTS rcr_bench;

-- A uniform number in [0, 1) for draw k of item g.
CREATE OR REPLACE FUNCTION rcr_bench.u(g bigint, k int) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (hashint8extended(g, k) & 9007199254740991)::float8 / 9007199254740992.0;

-- A standard normal number (Box-Muller) for draw k of item g.
CREATE OR REPLACE FUNCTION rcr_bench.normal(g bigint, k int) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN sqrt(-2.0 * ln(1.0 - rcr_bench.u(g, k))) * cos(2.0 * pi() * rcr_bench.u(g, k + 1000));

-- A rank in 1..n drawn with P(rank = r) proportional to about 1/r: Zipf's
-- law with s = 1, as word frequencies in text and the popularity of pages.
CREATE OR REPLACE FUNCTION rcr_bench.zipf(g bigint, k int, n int) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN least(n, floor(exp(rcr_bench.u(g, k) * ln(n + 1.0)))::int);

-- Concatenates tsvectors in order, shifting positions as `||` does: a
-- body's vector from its paragraphs' vectors, each computed once.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'rcr_bench' AND p.proname = 'tsvector_agg') THEN
        CREATE AGGREGATE rcr_bench.tsvector_agg(tsvector) (
            SFUNC = tsvector_concat, STYPE = tsvector, INITCOND = '');
    END IF;
END
$$;

-- What has been seeded, so that a run finds it and seeds only what is
-- missing. `generator` names this file's data set: another one is deleted
-- and seeded again rather than mixed with it.
CREATE TABLE IF NOT EXISTS rcr_bench.seeded (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    generator  int         NOT NULL,
    reviews    bigint      NOT NULL,
    subjects   int         NOT NULL,
    editors    int         NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A data set of another generator (:generator is this one's version), or
-- of the former bench/seed.sql (which recorded nothing), goes: its
-- reviews share this one's slugs (bench-<n>), and the former catalog's
-- subjects (bench-<brand>-bm-<n>) go with them.
DELETE FROM reviews
 WHERE slug ~ '^bench-[0-9]+$'
   AND NOT EXISTS (SELECT 1 FROM rcr_bench.seeded WHERE generator = :generator);
DELETE FROM subjects s
 WHERE s.slug ~ '^bench-[a-z]+-bm-[0-9]+$'
   AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.subject_id = s.id);
DELETE FROM rcr_bench.seeded WHERE generator <> :generator;
INSERT INTO rcr_bench.seeded (generator, reviews, subjects, editors)
VALUES (:generator, 0, :subjects, :editors)
ON CONFLICT (id) DO UPDATE SET subjects = greatest(rcr_bench.seeded.subjects, :subjects),
                               editors = greatest(rcr_bench.seeded.editors, :editors);

-- The vocabulary: per language, its stop words (most frequent first),
-- camera and lens terms, then a long tail of 30,000 invented words; a
-- word's rank is its place in that order, and text draws ranks by Zipf's
-- law (stop words then make up about 40 % of the words, as in real text).
CREATE TABLE IF NOT EXISTS rcr_bench.words (
    language text NOT NULL,
    rank     int  NOT NULL,
    word     text NOT NULL,
    PRIMARY KEY (language, rank)
);
-- The terms alone (titles, pros and cons draw from these), rank 1 first.
CREATE TABLE IF NOT EXISTS rcr_bench.terms (
    language text NOT NULL,
    rank     int  NOT NULL,
    word     text NOT NULL,
    PRIMARY KEY (language, rank)
);

DO $$
DECLARE
    lists jsonb := jsonb_build_object(
        'es', jsonb_build_array(
            'de la que el en y a los se del las un por con no una su para es al lo como más pero sus le ya o este muy sin sobre también me hasta porque esta entre cuando todo',
            'cámara lente objetivo enfoque sensor imagen imágenes vídeo retrato paisaje color colores nitidez batería cuerpo zoom luz noche ruido estabilizador estabilización visor pantalla menú botones empuñadura sellado lluvia polvo obturador ráfaga disparo exposición apertura diafragma focal angular teleobjetivo macro desenfoque bokeh contraste detalle rango dinámico sombras luces sensibilidad balance blancos piel tonos calidad precio peso tamaño compacta ligera robusta rápida silenciosa precisa autofoco seguimiento ojos animales aves deportes acción calle viaje boda estudio flash trípode montura adaptador firmware tarjeta ranura puerto carga autonomía calor grabación resolución píxeles megapíxeles formato completo recorte profesional aficionado fotógrafo fotografía fotos sesión jornada resultado rendimiento respuesta velocidad problema defecto ventaja excelente bueno mejor peor nuevo anterior generación modelo versión competencia alternativa comparación prueba análisis veredicto conclusión opinión uso meses semanas diales rueda joystick táctil articulada abatible obturación electrónico mecánico vibración distorsión viñeteo aberración cromática esquinas centro bordes nítido suave cálido frío saturación perfil archivo raw jpeg procesado edición ajustes modo automático manual prioridad medición histograma'),
        'pt', jsonb_build_array(
            'de a o que e do da em um para é com não uma os no se na por mais as dos como mas foi ao ele das tem à seu sua ou ser quando muito há nos já está',
            'câmera lente objetiva foco sensor imagem imagens vídeo retrato paisagem cor cores nitidez bateria corpo zoom luz noite ruído estabilizador estabilização visor tela menu botões empunhadura vedação chuva poeira obturador rajada disparo exposição abertura diafragma focal angular teleobjetiva macro desfoque bokeh contraste detalhe alcance dinâmico sombras realces sensibilidade balanço branco pele tons qualidade preço peso tamanho compacta leve robusta rápida silenciosa precisa autofoco rastreamento olhos animais aves esportes ação rua viagem casamento estúdio flash tripé baioneta adaptador firmware cartão slot porta carga autonomia calor gravação resolução pixels megapixels formato completo recorte profissional amador fotógrafo fotografia fotos sessão jornada resultado desempenho resposta velocidade problema defeito vantagem excelente bom melhor pior novo anterior geração modelo versão concorrência alternativa comparação teste análise veredito conclusão opinião uso meses semanas dials roda joystick toque articulada basculante obturação eletrônico mecânico vibração distorção vinheta aberração cromática cantos centro bordas nítido suave quente frio saturação perfil arquivo raw jpeg processamento edição ajustes modo automático manual prioridade medição histograma'),
        'en', jsonb_build_array(
            'the of and to a in is it that for with as on this was but be at by not are from or have an they which you one has its more than can all very when so if there',
            'camera lens focus sensor image images video portrait landscape colour colours sharpness battery body zoom light night noise stabiliser stabilisation viewfinder screen menu buttons grip sealing rain dust shutter burst shot exposure aperture diaphragm focal wide telephoto macro blur bokeh contrast detail range dynamic shadows highlights sensitivity balance white skin tones quality price weight size compact lightweight rugged fast quiet accurate autofocus tracking eyes animals birds sports action street travel wedding studio flash tripod mount adapter firmware card slot port charging endurance heat recording resolution pixels megapixels format full crop professional amateur photographer photography photos session day result performance response speed problem flaw advantage excellent good better worse new previous generation model version competition alternative comparison test review verdict conclusion opinion use months weeks dials wheel joystick touch articulating tilting electronic mechanical vibration distortion vignetting aberration chromatic corners centre edges sharp soft warm cool saturation profile file raw jpeg processing editing settings mode automatic manual priority metering histogram hybrid vlogging'));
    syllables text[] := string_to_array(
        'ba ce di fo gu la me ni po ru sa te vi zo ma ne ri to ca de le mo pe qui ra se ti va lo nu so ta', ' ');
    lang text;
    stop text[];
    terms text[];
BEGIN
    IF EXISTS (SELECT 1 FROM rcr_bench.words) THEN
        RETURN;
    END IF;
    -- reviews.sql draws terms by rank among 160.
    FOR lang IN SELECT jsonb_object_keys(lists) LOOP
        IF cardinality(string_to_array(lists -> lang ->> 1, ' ')) <> 160 THEN
            RAISE EXCEPTION 'rcr_bench: % lists % terms, not 160', lang,
                cardinality(string_to_array(lists -> lang ->> 1, ' '));
        END IF;
    END LOOP;
    FOR lang IN SELECT jsonb_object_keys(lists) LOOP
        stop := string_to_array(lists -> lang ->> 0, ' ');
        terms := string_to_array(lists -> lang ->> 1, ' ');
        INSERT INTO rcr_bench.terms (language, rank, word)
        SELECT lang, i, terms[i] FROM generate_subscripts(terms, 1) i;
        INSERT INTO rcr_bench.words (language, rank, word)
        SELECT lang, i, w FROM unnest(stop || terms) WITH ORDINALITY AS t(w, i);
        -- The tail: two syllables for the first 1,024 (short words are the
        -- frequent ones), three for the rest.
        INSERT INTO rcr_bench.words (language, rank, word)
        SELECT lang, cardinality(stop) + cardinality(terms) + 1 + k,
               CASE WHEN k < 1024
                    THEN syllables[1 + k / 32] || syllables[1 + k % 32]
                    ELSE syllables[1 + (k - 1024) / 1024] || syllables[1 + (k - 1024) / 32 % 32]
                         || syllables[1 + (k - 1024) % 32] END
          FROM generate_series(0, 29999) k;
    END LOOP;
END
$$;

-- 20,000 paragraphs per language (3 to 7 sentences of 6 to 20 words drawn
-- by Zipf's law), each with its vector computed once: a review's body is a
-- few of them after an opening of its own, and its vector the
-- concatenation of theirs (to_tsvector on every body costs about 1 ms).
CREATE TABLE IF NOT EXISTS rcr_bench.paragraphs (
    language text     NOT NULL,
    n        int      NOT NULL,
    body     text     NOT NULL,
    vector   tsvector NOT NULL,
    PRIMARY KEY (language, n)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM rcr_bench.paragraphs) THEN
        RETURN;
    END IF;
    INSERT INTO rcr_bench.paragraphs (language, n, body, vector)
    SELECT language, n, body, to_tsvector(rcr_search_config(language), body)
      FROM (SELECT l.language, p.n,
                   (SELECT string_agg(sentence, ' ' ORDER BY s)
                      FROM (SELECT s,
                                   (SELECT upper(left(t, 1)) || substr(t, 2) || '.'
                                      FROM (SELECT string_agg(
                                                       (SELECT w.word FROM rcr_bench.words w
                                                         WHERE w.language = l.language
                                                           AND w.rank = rcr_bench.zipf((key * 8 + s) * 32 + i, 3, l.words)),
                                                       ' ' ORDER BY i) AS t
                                              FROM generate_series(1, 6 + floor(15 * rcr_bench.u(key * 8 + s, 2))::int) i) x) AS sentence
                              FROM generate_series(1, 3 + floor(5 * rcr_bench.u(key, 1))::int) s) y) AS body
              FROM (SELECT language, li, (SELECT max(rank) FROM rcr_bench.words w WHERE w.language = v.language) AS words
                      FROM (VALUES ('es', 1), ('pt', 2), ('en', 3)) AS v(language, li)) l
             CROSS JOIN generate_series(0, 19999) p(n)
             CROSS JOIN LATERAL (SELECT li * 100000 + p.n AS key) k) z;
END
$$;

-- The catalog. Brands by popularity (the first ones are drawn most),
-- each with its mount, camera families and lens series.
CREATE TABLE IF NOT EXISTS rcr_bench.brands (
    rank     int PRIMARY KEY,
    brand    text   NOT NULL,
    mount    text   NOT NULL,
    families text[] NOT NULL,
    series   text[] NOT NULL
);
INSERT INTO rcr_bench.brands VALUES
    (1, 'Sony', 'Sony E', '{A7,A7R,A7S,A9,A1,A6700,ZV-E10,FX3}', '{GM,G,ZA}'),
    (2, 'Canon', 'Canon RF', '{EOS R5,EOS R6,EOS R8,EOS R7,EOS R10,EOS R3}', '{L,STM,USM}'),
    (3, 'Nikon', 'Nikon Z', '{Z6,Z7,Z8,Z9,Zf,Z5,Z50,Zfc}', '{S,DX,MC}'),
    (4, 'Fujifilm', 'Fujifilm X', '{X-T5,X-H2,X-S20,X100,X-Pro3,GFX100}', '{XF,XC,GF}'),
    (5, 'Panasonic', 'L-Mount', '{Lumix S5,Lumix S1,Lumix GH6,Lumix G9}', '{S,S Pro,Leica DG}'),
    (6, 'Sigma', 'L-Mount', '{fp,fp L,sd Quattro}', '{Art,Contemporary,Sports}'),
    (7, 'Tamron', 'Sony E', '{}', '{Di III,VXD,RXD}'),
    (8, 'OM System', 'Micro Four Thirds', '{OM-1,OM-5,E-M1,E-M10}', '{PRO,M.Zuiko}'),
    (9, 'Leica', 'Leica L', '{Q3,SL2,M11,CL}', '{Summilux,Summicron,APO}'),
    (10, 'Pentax', 'Pentax K', '{K-3,K-1,KF}', '{DFA,HD,Limited}'),
    (11, 'Hasselblad', 'Hasselblad XCD', '{X2D,907X}', '{XCD}'),
    (12, 'Ricoh', 'fixed', '{GR III,GR IIIx}', '{GR}'),
    (13, 'Samyang', 'Sony E', '{}', '{AF,MF,V-AF}'),
    (14, 'Viltrox', 'Fujifilm X', '{}', '{AF,Pro}'),
    (15, 'Laowa', 'Canon RF', '{}', '{Zero-D,Argus}')
ON CONFLICT DO NOTHING;

-- Subject n (1, 2, …) and editor n of the data set, for the reviews' draws.
CREATE TABLE IF NOT EXISTS rcr_bench.subjects (
    n     int PRIMARY KEY,
    id    bigint NOT NULL,
    brand text   NOT NULL,
    model text   NOT NULL
);
CREATE TABLE IF NOT EXISTS rcr_bench.editors (
    n  int PRIMARY KEY,
    id bigint NOT NULL
);

-- Editors (each with the admin's password hash: nobody logs in as them).
INSERT INTO editors (email, name, password_hash)
SELECT format('bench-editor-%s@rcr.local', g), format('Bench Editor %s', g),
       (SELECT password_hash FROM editors ORDER BY id LIMIT 1)
  FROM generate_series(1, :editors) g
ON CONFLICT DO NOTHING;
INSERT INTO rcr_bench.editors (n, id)
SELECT n, id
  FROM (SELECT id, CASE WHEN email ~ '^bench-editor-[0-9]+@rcr\.local$'
                        THEN split_part(split_part(email, '@', 1), '-', 3)::int END AS n
          FROM editors) e
 WHERE n <= :editors
ON CONFLICT DO NOTHING;

-- Subjects: a brand by popularity, a camera (60 %) of one of its families
-- or a lens of one of its series; the model carries the subject's number
-- so that every (kind, brand, model) is new.
INSERT INTO subjects (kind, brand, model, slug, mount, sensor_format, megapixels,
                      focal_min_mm, focal_max_mm, max_aperture, release_year)
SELECT kind, brand, model,
       trim(BOTH '-' FROM regexp_replace(lower(brand || ' ' || model), '[^a-z0-9]+', '-', 'g')),
       mount,
       CASE WHEN kind = 'camera' THEN (ARRAY['full frame','APS-C','Micro Four Thirds','medium format'])[1 + floor(4 * rcr_bench.u(g, 24))::int] END,
       CASE WHEN kind = 'camera' THEN round((12 + 90 * rcr_bench.u(g, 25) ^ 2)::numeric, 1) END,
       CASE WHEN kind = 'lens' THEN focal_min END,
       CASE WHEN kind = 'lens' THEN focal_min + (ARRAY[0,0,50,56,100,400])[1 + floor(6 * rcr_bench.u(g, 26))::int] END,
       CASE WHEN kind = 'lens' THEN (ARRAY[1.2,1.4,1.8,2.8,4.0,5.6])[1 + floor(6 * rcr_bench.u(g, 27))::int] END,
       2012 + floor(15 * rcr_bench.u(g, 28))::int
  FROM (SELECT g, b.brand, b.mount,
               CASE WHEN cardinality(b.families) > 0 AND rcr_bench.u(g, 21) < 0.6 THEN 'camera' ELSE 'lens' END AS kind,
               (ARRAY[14,16,20,24,28,35,50,70,85,100,135,200])[1 + floor(12 * rcr_bench.u(g, 29))::int] AS focal_min,
               b.families, b.series
          FROM generate_series(1, :subjects) g
          JOIN rcr_bench.brands b ON b.rank = rcr_bench.zipf(g, 20, 15)) s
 CROSS JOIN LATERAL (
        SELECT CASE WHEN kind = 'camera'
                    THEN families[1 + floor(cardinality(families) * rcr_bench.u(g, 22))::int] || ' M' || g
                    ELSE format('%smm F%s %s L%s', focal_min,
                                (ARRAY['1.2','1.4','1.8','2.8','4','5.6'])[1 + floor(6 * rcr_bench.u(g, 27))::int],
                                series[1 + floor(cardinality(series) * rcr_bench.u(g, 23))::int], g) END AS model) m
ON CONFLICT DO NOTHING;
INSERT INTO rcr_bench.subjects (n, id, brand, model)
SELECT (regexp_match(model, '[ML]([0-9]+)$'))[1]::int, id, brand, model
  FROM subjects
 WHERE model ~ ' [ML][0-9]+$' AND (regexp_match(model, '[ML]([0-9]+)$'))[1]::int <= :subjects
ON CONFLICT DO NOTHING;
