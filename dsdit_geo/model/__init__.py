"""dsdit_geo.model"""
