"""dsdit_geo.upscalers"""
