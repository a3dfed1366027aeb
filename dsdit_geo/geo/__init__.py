"""dsdit_geo.geo"""
