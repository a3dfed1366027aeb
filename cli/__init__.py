"""The dsdit-geo command-line app (installed as the package `dsdit_geo_cli`)."""
