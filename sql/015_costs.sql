-- 015_costs: the inputs of the members' cost split (doc/reports.md,
-- "costs"; daemon/costs.c).
--
-- organisations keeps its population, users and workstations columns (the
-- latest figures a member reported), but the split of a period needs the
-- figures of that period's year, which change every year: they live here.

-- A member's figures for one year (seutudeskctl org set).
CREATE TABLE org_years (
	organisation text NOT NULL REFERENCES organisations (id),
	year integer NOT NULL CHECK (year BETWEEN 2000 AND 2999),
	population integer NOT NULL CHECK (population >= 0),
	users integer NOT NULL CHECK (users >= 0),
	workstations integer NOT NULL CHECK (workstations >= 0),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (organisation, year)
);

-- A cost of a period (seutudeskctl cost add): with organisation NULL the
-- pool's shared cost, split between the members; else a direct cost of that
-- member alone.  period is a whole year, quarter or month as a range of
-- dates, upper bound excluded ([2026-01-01,2026-04-01) is 2026-Q1).
CREATE TABLE cost_items (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organisation text REFERENCES organisations (id),
	period daterange NOT NULL
		CHECK (NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)),
	-- at most 10^13 in the currency: its product with the days of a year fits a bigint
	amount_cents bigint NOT NULL CHECK (amount_cents BETWEEN 0 AND 1000000000000000),
	text text NOT NULL CHECK (text <> ''),
	created_at timestamptz NOT NULL DEFAULT now(),
	-- who added it: the operating system user of seutudeskctl, else the role
	created_by text NOT NULL DEFAULT session_user
);

-- A report reads the items overlapping its period.
CREATE INDEX cost_items_period ON cost_items USING gist (period);
