"""dsdit_geo.metrics"""
