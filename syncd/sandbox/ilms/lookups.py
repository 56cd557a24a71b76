"""The iLMS lookup tables and how the sandbox finds a value in them.

F023 takes a time zone full name (L50), F011 a country name or code (L34), F012 a US
state or Canadian province name or code (L37, L5573), F006 a language name (L29). The
tables below are the document's "Region, Time, and Language Codes" section, its rows
pasted as they stand there (tab-separated) and transcribed here rather than taken from
syncd's adapter. The vendor's quirks stay (a stray ")" in one time zone, codes that
are not ISO such as "EI" for Ethiopia, "PQ" for Quebec): the sandbox accepts exactly
what the vendor documents, so a client that sends anything else learns it here, not
in production.
"""

from __future__ import annotations

__all__ = [
    "CANADA_PROVINCES",
    "COUNTRIES",
    "LANGUAGES",
    "TIME_ZONES",
    "US_STATES",
    "country",
    "country_name",
    "language",
    "state",
    "time_zone",
]

# "Time Zone" (L5153-L5250): Full Name, Short Name, Offset; 91 rows.
_TIME_ZONE_ROWS = """\
(GMT-05.00) Eastern Time (US & Canada)	EST	-5.00
(GMT-06.00) Central Time (US & Canada)	CST	-6.00
(GMT-07.00) Mountain Time (US & Canada)	MST	-7.00
(GMT-08.00) Pacific Time (US & Canada)	PST	-8.00
(GMT-12.00) International Date Line West	IDLW	-12.00
(GMT-11.00) Midway Island, Samoa	SST	-11.00
(GMT-10.00) Hawaii	HST	-10.00
(GMT-09.00) Alaska	AKST	-9.00
(GMT-08.00) Tijuana, Baja California)	PST	-8.00
(GMT-07.00) Chihuahua, La Paz, Mazatlan - Old	MST	-7.00
(GMT-07.00) Chihuahua, La Paz, Mazatlan - New	MST	-7.00
(GMT-07.00) Arizona	MST	-7.00
(GMT-06.00) Saskatchewan	CST	-6.00
(GMT-06.00) Guadalajara, Mexico City, Monterrey - Old	CST	-6.00
(GMT-06.00) Guadalajara, Mexico City, Monterrey - New	CST	-6.00
(GMT-06.00) Central America	CST	-6.00
(GMT-05.00) Indiana (East)	EST	-5.00
(GMT-05.00) Bogota, Lima, Quito, Rio Branco	COT	-5.00
(GMT-04.30) Caracas	VET	-4.30
(GMT-04.00) Santiago	CLT	-4.00
(GMT-04.00) Manaus	AMT	-4.00
(GMT-04.00) La Paz	BOT	-4.00
(GMT-04.00) Atlantic Time (Canada)	AST	-4.00
(GMT-03.30) Newfoundland	NST	-3.30
(GMT-03.00) Montevideo	UYT	-3.00
(GMT-03.00) Greenland	WGT	-3.00
(GMT-03.00) Georgetown	ART	-3.00
(GMT-03.00) Buenos Aires	ART	-3.00
(GMT-03.00) Brasilia	BRT	-3.00
(GMT-02.00) Mid-Atlantic	GMT-02.00	-2.00
(GMT-01.00) Cape Verde Is.	CVT	-1.00
(GMT-01.00) Azores	AZOT	-1.00
(GMT00.00) Casablanca	GMT	0.00
(GMT00.00) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London	GMT	0.00
(GMT00.00) Monrovia, Reykjavik	GMT	0.00
(GMT+01.00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna	WET	1.00
(GMT+01.00) Belgrade, Bratislava, Budapest, Ljubljana, Prague	CET	1.00
(GMT+01.00) Brussels, Copenhagen, Madrid, Paris	CET	1.00
(GMT+01.00) Sarajevo, Skopje, Warsaw, Zagreb	CET	1.00
(GMT+01.00) West Central Africa	WAT	1.00
(GMT+02.00) Amman	EET	2.00
(GMT+02.00) Athens, Bucharest, Istanbul	EET	2.00
(GMT+02.00) Beirut	EET	2.00
(GMT+02.00) Cairo	EET	2.00
(GMT+02.00) Harare, Pretoria	SAST	2.00
(GMT+02.00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius	EET	2.00
(GMT+02.00) Jerusalem	IST	2.00
(GMT+02.00) Minsk	EET	2.00
(GMT+02.00) Windhoek	WAT	2.00
(GMT+03.00) Baghdad	AST	3.00
(GMT+03.00) Kuwait, Riyadh	AST	3.00
(GMT+03.00) Moscow, St. Petersburg, Volgograd	MSK	3.00
(GMT+03.00) Nairobi	EAT	3.00
(GMT+03.00) Tbilisi	GET	3.00
(GMT+03.00) Tehran	IRST	3.00
(GMT+04.00) Abu Dhabi, Muscat	GST	4.00
(GMT+04.00) Baku	AZT	4.00
(GMT+04.00) Caucasus Standard Time	GMT+04.00	4.00
(GMT+04.00) Port Louis	MUT	4.00
(GMT+04.00) Yerevan	AMT	4.00
(GMT+04.00) Kabul	AFT	4.00
(GMT+05.00) Ekaterinburg	SVX	5.00
(GMT+05.00) Islamabad, Karachi	PKT	5.00
(GMT+05.00) Tashkent	UZT	5.00
(GMT+05.30) Chennai, Kolkata, Mumbai, New Delhi	IST	5.30
(GMT+05.30) Sri Jayawardenepura	IST	5.30
(GMT+05.45) Kathmandu	NPT	5.45
(GMT+06.00) Almaty, Novosibirsk	NOVT	6.00
(GMT+06.00) Astana, Dhaka	BST	6.00
(GMT+06.30) Yangon (Rangoon)	MMT	6.30
(GMT+07.00) Bangkok, Hanoi, Jakarta	WIB	7.00
(GMT+07.00) Krasnoyarsk	KRAT	7.00
(GMT+08.00) Beijing, Chongqing, Hong Kong, Urumqi	CST	8.00
(GMT+08.00) Irkutsk, Ulaan Bataar	IRKT	8.00
(GMT+08.00) Kuala Lumpur, Singapore	SGT	8.00
(GMT+08.00) Perth	WST	8.00
(GMT+08.00) Taipei	CST	8.00
(GMT+09.00) Osaka, Sapporo, Tokyo	JST	9.00
(GMT+09.00) Seoul	KST	9.00
(GMT+09.00) Yakutsk	YAKT	9.00
(GMT+09.30) Adelaide	CST	9.30
(GMT+09.30) Darwin	CST	9.30
(GMT+10.00) Brisbane	EST	10.00
(GMT+10.00) Canberra, Melbourne, Sydney	EST	10.00
(GMT+10.00) Guam, Port Moresby	PGT	10.00
(GMT+10.00) Hobart	EST	10.00
(GMT+10.00) Vladivostok	VLAT	10.00
(GMT+11.00) Magadan, Solomon Is., New Caledonia	MAGT	11.00
(GMT+12.00) Auckland, Wellington	NZST	12.00
(GMT+12.00) Fiji, Kamchatka, Marshall Is.	FJT	12.00
(GMT+13.00) Nuku alofa	TOT	13.00
"""

# "Country" (L5256-L5500): Name, Code; 234 rows.
_COUNTRY_ROWS = """\
Afghanistan	AF
Albania	AL
Algeria	DZ
American Samoa	AS
Andorra	AD
Angola	AO
Anguilla	AI
Antarctica	AQ
Antigua and Barbuda	AG
Argentina	AR
Armenia	AM
Aruba	AW
Australia	AU
Austria	AT
Azerbaijan	AZ
Bahamas	BS
Bahrain	BH
Bangladesh	BD
Barbados	BB
Belarus	BY
Belgium	BE
Belize	BZ
Benin	BJ
Bermuda	BM
Bhutan	BT
Bolivia	BO
Bosnia and Herzegovina	BA
Botswana	BW
Brazil	BR
British Indian Ocean Territory	IO
British Virgin Islands	VG
Brunei	BN
Bulgaria	BG
Burkina Faso	BF
Burma (Myanmar)	MM
Burundi	BI
Cambodia	KH
Cameroon	CM
Canada	CA
Cape Verde	CV
Cayman Islands	KY
Central African Republic	CF
Chad	TD
Chile	CL
China	CN
Christmas Island	CX
Cocos (Keeling) Islands	CC
Colombia	CO
Comoros	KM
Cook Islands	CK
Costa Rica	CR
Croatia	HR
Cuba	CU
Cyprus	CY
Czech Republic	CZ
Democratic Republic of the Congo	CD
Denmark	DK
Djibouti	DJ
Dominica	DM
Dominican Republic	DO
Ecuador	EC
Egypt	EG
El Salvador	SV
Equatorial Guinea	GQ
Eritrea	ER
Estonia	EE
Ethiopia	EI
Falkland Islands	FK
Faroe Islands	FO
Fiji	FJ
Finland	FI
France	FR
French Polynesia	PF
Gabon	GA
Gambia	GM
Georgia	GE
Germany	DE
Ghana	GH
Gibraltar	GI
Greece	GR
Greenland	GL
Grenada	GD
Guam	GU
Guatemala	GT
Guinea	GN
Guinea-Bissau	GW
Guyana	GY
Haiti	HT
Holy See (Vatican City)	VA
Honduras	HN
Hong Kong	HK
Hungary	HU
Iceland	IS
India	IN
Indonesia	ID
Iran	IR
Iraq	IQ
Ireland	IE
Isle of Man	IM
Israel	IL
Italy	IT
Ivory Coast	CI
Jamaica	JM
Japan	JP
Jersey	JE
Jordan	JO
Kazakhstan	KZ
Kenya	KE
Kiribati	KI
Kuwait	KW
Kyrgyzstan	KG
Laos	LA
Latvia	LV
Lebanon	LB
Lesotho	LS
Liberia	LR
Libya	LY
Liechtenstein	LI
Lithuania	LT
Luxembourg	LU
Macau	MO
Macedonia	MK
Madagascar	MG
Malawi	MW
Malaysia	MY
Maldives	MV
Mali	ML
Malta	MT
Marshall Islands	MH
Mauritania	MR
Mauritius	MU
Mayotte	YT
Mexico	MX
Micronesia	FM
Moldova	MD
Monaco	MC
Mongolia	MN
Montenegro	ME
Montserrat	MS
Morocco	MA
Mozambique	MZ
Namibia	NA
Nauru	NR
Nepal	NP
Netherlands	NL
Netherlands Antilles	AN
New Caledonia	NC
New Zealand	NZ
Nicaragua	NI
Niger	NE
Nigeria	NG
Niue	NU
Norfolk Island	NFK
North Korea	KP
Northern Mariana Islands	MP
Norway	NO
Oman	OM
Pakistan	PK
Palau	PW
Panama	PA
Papua New Guinea	PG
Paraguay	PY
Peru	PE
Philippines	PH
Pitcairn Islands	PN
Poland	PL
Portugal	PT
Puerto Rico	PR
Qatar	QA
Republic of the Congo	CG
Romania	RO
Russia	RU
Rwanda	RW
Saint Barthelemy	BL
Saint Helena	SH
Saint Kitts and Nevis	KN
Saint Lucia	LC
Saint Martin	MF
Saint Pierre and Miquelon	PM
Saint Vincent and the Grenadines	VC
Samoa	WS
San Marino	SM
Sao Tome and Principe	ST
Saudi Arabia	SA
Senegal	SN
Serbia	RS
Seychelles	SC
Sierra Leone	SL
Singapore	SG
Slovakia	SK
Slovenia	SI
Solomon Islands	SB
Somalia	SO
South Africa	ZA
South Korea	KR
Spain	ES
Sri Lanka	LK
Sudan	SD
Suriname	SR
Svalbard	SJ
Swaziland	SZ
Sweden	SE
Switzerland	CH
Syria	SY
Taiwan	TW
Tajikistan	TJ
Tanzania	TZ
Thailand	TH
Timor-Leste	TL
Togo	TG
Tokelau	TK
Tonga	TO
Trinidad and Tobago	TT
Tunisia	TN
Turkey	TR
Turkmenistan	TM
Turks and Caicos Islands	TC
Tuvalu	TV
Uganda	UG
Ukraine	UA
United Arab Emirates	AE
United Kingdom	GB
United States	US
Uruguay	UY
US Virgin Islands	VI
Uzbekistan	UZ
Vanuatu	VU
Venezuela	VE
Vietnam	VN
Wallis and Futuna	WF
Western Sahara	EH
Yemen	YE
Zambia	ZM
Zimbabwe	ZW
"""

# "US - States" (L5506-L5569): Name, Code; 59 rows, territories included.
_US_STATE_ROWS = """\
Alabama	AL
Alaska	AK
American Samoa	AS
Arizona	AZ
Arkansas	AR
California	CA
Colorado	CO
Connecticut	CT
Delaware	DE
District Of Columbia	DC
Federated States Of Micronesia	FM
Florida	FL
Georgia	GA
Guam	GU
Hawaii	HI
Idaho	ID
Illinois	IL
Indiana	IN
Iowa	IA
Kansas	KS
Kentucky	KY
Louisiana	LA
Maine	ME
Marshall Islands	MH
Maryland	MD
Massachusetts	MA
Michigan	MI
Minnesota	MN
Mississippi	MS
Missouri	MO
Montana	MT
Nebraska	NE
Nevada	NV
New Hampshire	NH
New Jersey	NJ
New Mexico	NM
New York	NY
North Carolina	NC
North Dakota	ND
Northern Mariana Islands	MP
Ohio	OH
Oklahoma	OK
Oregon	OR
Palau	PW
Pennsylvania	PA
Puerto Rico	PR
Rhode Island	RI
South Carolina	SC
South Dakota	SD
Tennessee	TN
Texas	TX
Utah	UT
Vermont	VT
Virgin Islands	VI
Virginia	VA
Washington	WA
West Virginia	WV
Wisconsin	WI
Wyoming	WY
"""

# "Canada - States (Provinces)" (L5575-L5588): Name, Code; 13 rows;
# "These codes will work in the 'State' Field" (L5573).
_CANADA_ROWS = """\
Alberta	AB
British Columbia	BC
Manitoba	MB
New Brunswick	NB
New Foundland	NF
Northwest Territories	NT
Nova Scotia	NS
Nunavut	NU
Ontario	ON
Prince Edward Island	PE
Quebec	PQ
Saskatchewan	SK
Yukon	YT
"""

# "Languages" (L5594-L5616): Name, Code, Character Set; 22 rows.
_LANGUAGE_ROWS = """\
Brazilian Portuguese	PT	iso-8859-1
Chinese	ZH	EUC-CN
Czech	CS	iso-8859-2
Dutch	LN	iso-8859-1
English	en	utf-8
English (UK)	en	utf-8
French	fr	iso-8859-1
French Canadian	fr-CA	iso-8859-1
German	ge	iso-8859-1
Greek	gr	iso-8859-7
Italian	IT	iso-8859-1
Japanese	JA	x-euc
Korean	KO	euc-kr
Latin American Spanishes-US		iso-8859-1
Malay	MS	iso-8859-1
Portuguese	PT	iso-8859-1
Russian	RU	iso-8859-5
Slovakian	SK	iso-8859-2
Spanish	sp	iso-8859-1
Thai	TH	windows-874
Traditional Chinese	TH-TW	Big5
Turkish	TR	iso-8859-9
"""


def _columns(rows: str, width: int) -> tuple[tuple[str, ...], ...]:
    """The rows of a pasted table; a row that lost a column fails the import, loudly."""
    table = tuple(tuple(row.split("\t")) for row in rows.splitlines())
    broken = [row for row in table if len(row) != width]
    if broken:
        raise ValueError(f"iLMS lookup rows without {width} columns: {broken}")
    return table


TIME_ZONES: tuple[str, ...] = tuple(row[0] for row in _columns(_TIME_ZONE_ROWS, 3))
COUNTRIES: tuple[tuple[str, str], ...] = tuple((n, c) for n, c in _columns(_COUNTRY_ROWS, 2))
US_STATES: tuple[tuple[str, str], ...] = tuple((n, c) for n, c in _columns(_US_STATE_ROWS, 2))
CANADA_PROVINCES: tuple[tuple[str, str], ...] = tuple((n, c) for n, c in _columns(_CANADA_ROWS, 2))
LANGUAGES: tuple[str, ...] = tuple(row[0] for row in _columns(_LANGUAGE_ROWS, 3))


def _folded(values: tuple[str, ...]) -> dict[str, str]:
    return {v.casefold(): v for v in values}


_TIME_ZONES = _folded(TIME_ZONES)
_COUNTRIES = _folded(tuple(n for n, _ in COUNTRIES) + tuple(c for _, c in COUNTRIES))
_COUNTRY_NAMES = {v.casefold(): name for name, code in COUNTRIES for v in (name, code)}
_STATES = _folded(
    tuple(n for n, _ in US_STATES + CANADA_PROVINCES)
    + tuple(c for _, c in US_STATES + CANADA_PROVINCES)
)


def time_zone(value: str) -> str | None:
    """The table's spelling of a time zone full name (case-insensitive), None if unknown."""
    return _TIME_ZONES.get(value.strip().casefold())


def country(value: str) -> str | None:
    """The table's spelling of a country name or code; a name stays a name, a code a code."""
    return _COUNTRIES.get(value.strip().casefold())


def country_name(value: str) -> str | None:
    """The country's name for its name or code (``US`` -> ``United States``)."""
    return _COUNTRY_NAMES.get(value.strip().casefold())


def state(value: str) -> str | None:
    """The table's spelling of a US state or Canadian province name or code."""
    return _STATES.get(value.strip().casefold())


def language(value: str, enabled: tuple[str, ...] = LANGUAGES) -> str | None:
    """The language name if it is one of ``enabled`` (the organization's languages)."""
    return _folded(enabled).get(value.strip().casefold())
