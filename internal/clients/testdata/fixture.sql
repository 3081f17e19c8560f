-- The client matrix's database: small, with text-only answers so that every driver returns the
-- same strings whatever its type mapping.
CREATE TABLE cities (name text PRIMARY KEY, population integer NOT NULL);
CREATE TABLE orders (
  id integer PRIMARY KEY,
  city text NOT NULL REFERENCES cities(name),
  status text NOT NULL,
  amount numeric(10,2) NOT NULL,
  discount integer NOT NULL DEFAULT 0
);
INSERT INTO cities VALUES ('Lyon', 522000), ('Nantes', 320000), ('Oslo', 709000), ('Porto', 232000);
INSERT INTO orders VALUES
  (1, 'Lyon', 'paid', 12.50, 0), (2, 'Lyon', 'open', 0.80, 10), (3, 'Oslo', 'paid', 99.00, 10),
  (4, 'Porto', 'paid', 0.50, 0), (5, 'Nantes', 'refunded', 40.00, 25), (6, 'Oslo', 'open', 7.25, 0);
