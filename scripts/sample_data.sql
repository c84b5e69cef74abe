-- The demo's sample shop, in the spirit of seed 001's setup.sql: customers, products, orders, order items and
-- inventory, with timestamps, numerics and jsonb. Re-runnable: it drops and recreates schema `shop`.
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
SET search_path = shop;
SELECT setseed(0.42);

CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled');

CREATE TABLE customers (
    customer_id   bigint PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    full_name     text NOT NULL,
    region        varchar(50) NOT NULL,
    loyalty_tier  char(1),
    preferences   jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    sku           text PRIMARY KEY,
    name          text NOT NULL,
    category      text NOT NULL,
    unit_price    numeric(12,2) NOT NULL,
    weight_kg     double precision,
    attributes    jsonb,
    discontinued  boolean NOT NULL DEFAULT false,
    created_at    timestamp NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    order_id      bigint PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES customers,
    status        order_status NOT NULL,
    order_date    date NOT NULL,
    total_amount  numeric(14,2) NOT NULL,
    shipping      jsonb,
    placed_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE order_items (
    order_id      bigint NOT NULL REFERENCES orders,
    line_no       int NOT NULL,
    sku           text NOT NULL REFERENCES products,
    quantity      int NOT NULL,
    unit_price    numeric(12,2) NOT NULL,
    discount      numeric(5,4),
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE inventory (
    sku           text NOT NULL REFERENCES products,
    warehouse     text NOT NULL,
    on_hand       int NOT NULL,
    reorder_level smallint,
    last_counted  timestamp,
    PRIMARY KEY (sku, warehouse)
);

INSERT INTO customers
SELECT i, 'customer' || i || '@example.com', 'Customer ' || i,
       (ARRAY['North America', 'Europe', 'Asia Pacific', 'Latin America'])[1 + i % 4],
       CASE WHEN i % 7 = 0 THEN NULL ELSE (ARRAY['B', 'S', 'G'])[1 + i % 3] END,
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE jsonb_build_object('newsletter', i % 2 = 0, 'language', (ARRAY['en', 'de', 'ja', 'es'])[1 + i % 4],
                                    'contact', jsonb_build_object('sms', i % 3 = 0, 'hours', jsonb_build_array(9, 17))) END,
       timestamptz '2023-01-01 00:00:00+00' + i * interval '37 minutes',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '41 minutes'
FROM generate_series(1, 2000) AS i;

INSERT INTO products
SELECT 'SKU-' || lpad(i::text, 5, '0'), 'Product ' || i,
       (ARRAY['Electronics', 'Home', 'Garden', 'Toys', 'Books'])[1 + i % 5],
       round((5 + random() * 995)::numeric, 2), round((random() * 30)::numeric, 3)::float8,
       jsonb_build_object('color', (ARRAY['red', 'blue', 'green', 'black'])[1 + i % 4], 'warranty_months', 12 * (i % 3),
                          'dimensions', jsonb_build_object('w', i % 50 + 1, 'h', i % 30 + 1)),
       i % 17 = 0, timestamp '2022-06-01 08:00:00' + i * interval '3 hours'
FROM generate_series(1, 400) AS i;

INSERT INTO orders
SELECT i, 1 + (i * 7919) % 2000,
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'cancelled']::order_status[])[1 + i % 5],
       date '2024-01-01' + (i % 600), 0,
       CASE WHEN i % 4 = 0 THEN NULL
            ELSE jsonb_build_object('carrier', (ARRAY['UPS', 'DHL', 'FedEx'])[1 + i % 3], 'express', i % 10 = 0) END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '5 minutes',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '5 minutes' + interval '2 days'
FROM generate_series(1, 20000) AS i;

INSERT INTO order_items
SELECT o, l, 'SKU-' || lpad((1 + (o * 31 + l * 17) % 400)::text, 5, '0'), 1 + (o + l) % 5,
       p.unit_price, CASE WHEN l = 2 THEN 0.1000 ELSE NULL END
FROM generate_series(1, 20000) AS o CROSS JOIN generate_series(1, 3) AS l
JOIN products p ON p.sku = 'SKU-' || lpad((1 + (o * 31 + l * 17) % 400)::text, 5, '0');

UPDATE orders o SET total_amount = s.total
FROM (SELECT order_id, sum(quantity * unit_price * (1 - coalesce(discount, 0)))::numeric(14,2) AS total
      FROM order_items GROUP BY order_id) s
WHERE s.order_id = o.order_id;

INSERT INTO inventory
SELECT p.sku, w, (random() * 500)::int, CASE WHEN random() < 0.2 THEN NULL ELSE 20 END,
       timestamp '2024-06-01 06:00:00' + (random() * 1000) * interval '1 hour'
FROM products p, unnest(ARRAY['AMS', 'DFW', 'SIN', 'GRU']) AS w;

ANALYZE;
