-- pgask demo database: a small web shop. Deterministic data (no random()), so answers are
-- reproducible. Loaded by `pgask demo` into a throwaway PostgreSQL.
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled');

CREATE TABLE categories (
  id    serial PRIMARY KEY,
  name  text NOT NULL UNIQUE
);
COMMENT ON TABLE categories IS 'Product categories shown in the shop menu';

CREATE TABLE products (
  id           serial PRIMARY KEY,
  category_id  integer NOT NULL REFERENCES categories(id),
  name         text NOT NULL,
  price        numeric(10,2) NOT NULL CHECK (price >= 0),
  in_stock     integer NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN products.price IS 'current unit price in EUR, VAT included';
COMMENT ON COLUMN products.in_stock IS 'units in the warehouse';

CREATE TABLE customers (
  id          serial PRIMARY KEY,
  email       text NOT NULL UNIQUE,
  full_name   text NOT NULL,
  country     char(2) NOT NULL,
  signed_up   date NOT NULL
);
COMMENT ON TABLE customers IS 'People who created an account';
COMMENT ON COLUMN customers.country IS 'ISO 3166-1 alpha-2 country code, e.g. DE, FR, US';

CREATE TABLE orders (
  id           serial PRIMARY KEY,
  customer_id  integer NOT NULL REFERENCES customers(id),
  status       order_status NOT NULL DEFAULT 'pending',
  created_at   timestamptz NOT NULL,
  shipped_at   timestamptz
);
COMMENT ON COLUMN orders.created_at IS 'when the order was placed';

CREATE TABLE order_items (
  order_id    integer NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  product_id  integer NOT NULL REFERENCES products(id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  unit_price  numeric(10,2) NOT NULL,
  PRIMARY KEY (order_id, product_id)
);
COMMENT ON COLUMN order_items.unit_price IS 'price per unit when the order was placed';

INSERT INTO categories (name) VALUES ('Books'), ('Games'), ('Garden'), ('Kitchen'), ('Music');

INSERT INTO products (category_id, name, price, in_stock, created_at)
SELECT 1 + (i % 5), 'Product ' || i, round((5 + (i * 37) % 200)::numeric + 0.99, 2), (i * 13) % 50,
       timestamptz '2025-01-01' + (i || ' days')::interval
FROM generate_series(1, 60) AS i;

INSERT INTO customers (email, full_name, country, signed_up)
SELECT 'customer' || i || '@example.com',
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','Ken'])[1 + i % 8] || ' ' ||
       (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Allen','Thompson'])[1 + (i * 3) % 8],
       (ARRAY['DE','FR','US','GB','NL','IT'])[1 + i % 6],
       date '2024-01-01' + (i * 5)
FROM generate_series(1, 200) AS i;

INSERT INTO orders (customer_id, status, created_at, shipped_at)
SELECT 1 + (i * 7) % 200,
       (ARRAY['pending','paid','shipped','delivered','delivered','delivered','cancelled'])[1 + i % 7]::order_status,
       now() - ((i % 400) || ' days')::interval - ((i * 17 % 24) || ' hours')::interval,
       CASE WHEN i % 7 IN (2, 3, 4, 5) THEN now() - ((i % 400) || ' days')::interval + interval '2 days' END
FROM generate_series(1, 1000) AS i;

INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT o.id, p.pid, 1 + (o.id + p.pid) % 4, pr.price
FROM orders o
CROSS JOIN LATERAL (VALUES (1 + (o.id * 11) % 60), (1 + (o.id * 29 + 7) % 60)) AS p(pid)
JOIN products pr ON pr.id = p.pid
ON CONFLICT DO NOTHING;

ANALYZE;
