# Kazakh, which Django has no formats for: the Unicode CLDR's patterns ("2026 ж. 30 қараша",
# 1 234 567,5), with Django's Kazakh month names.
DATE_FORMAT = "Y ж. j F"
DATETIME_FORMAT = "Y ж. j F, H:i"
YEAR_MONTH_FORMAT = "Y ж. F"
MONTH_DAY_FORMAT = "j F"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
FIRST_DAY_OF_WEEK = 1
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\xa0"
NUMBER_GROUPING = 3
