-- 002_region: the first region's members and the pool's catalogue.
-- Populations are approximate and serve the demo cost allocation; users and
-- workstations stay NULL until the members report them.

INSERT INTO organisations (id, name, kind, mail_domain, population) VALUES
	('saarijarvi', 'Saarijärvi', 'municipality', 'saarijarvi.fi', 9200),
	('viitasaari', 'Viitasaari', 'municipality', 'viitasaari.fi', 6000),
	('karstula', 'Karstula', 'municipality', 'karstula.fi', 3800),
	('pihtipudas', 'Pihtipudas', 'municipality', 'pihtipudas.fi', 3700),
	('kinnula', 'Kinnula', 'municipality', 'kinnula.fi', 1500),
	('kannonkoski', 'Kannonkoski', 'municipality', 'kannonkoski.fi', 1250),
	('kyyjarvi', 'Kyyjärvi', 'municipality', 'kyyjarvi.fi', 1200),
	('kivijarvi', 'Kivijärvi', 'municipality', 'kivijarvi.fi', 1050),
	('saarikka', 'Saarikka', 'joint_authority', 'saarikka.fi', NULL);

INSERT INTO organisation_serves (organisation, municipality) VALUES
	('saarikka', 'saarijarvi'),
	('saarikka', 'karstula'),
	('saarikka', 'kannonkoski'),
	('saarikka', 'kivijarvi'),
	('saarikka', 'kyyjarvi');

INSERT INTO sectors (id, name, sensitive) VALUES
	('keskushallinto', 'Keskushallinto (central administration)', false),
	('sote', 'Sosiaali- ja terveyspalvelut (social and health care)', true),
	('sivistys', 'Sivistystoimi (education and culture)', false),
	('tekninen', 'Tekninen toimi (technical services)', false),
	('konserni', 'Konserniyhtiöt (municipal companies)', false);

INSERT INTO categories (id, name) VALUES
	('tyoasema', 'Työasemat (workstations and laptops)'),
	('tulostus', 'Tulostus (printing)'),
	('verkko', 'Verkko (network, Wi-Fi, VPN)'),
	('tunnukset', 'Tunnukset (accounts, passwords, MFA)'),
	('sahkoposti', 'Sähköposti (e-mail and calendar)'),
	('ohjelmisto', 'Ohjelmistot (applications)'),
	('hankinta', 'Hankinnat (ordering hardware and software)'),
	('tietoturva', 'Tietoturva (phishing, malware, data leaks)'),
	('mobiili', 'Mobiililaitteet (phones and tablets)'),
	('asiointi', 'Sähköinen asiointi (citizens'' e-services)');

INSERT INTO queues (id, name, description) VALUES
	('triage', 'Triage', 'New requests waiting to be routed');
