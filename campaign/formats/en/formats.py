# British English dates for the campaign's English pages ("30 November 2026, 14:05"); numbers
# keep Django's English separators (1,234,567).
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
