"""dsdit_geo.weights"""
