"""dsdit_geo.raster"""
