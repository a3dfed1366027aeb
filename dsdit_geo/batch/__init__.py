"""dsdit_geo.batch"""
