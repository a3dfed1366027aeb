"""dsdit_geo.train"""
