"""dsdit_geo.flow"""
