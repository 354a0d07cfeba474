"""Spark batch computation of the lake's tables: the session, reading committed inputs, the transforms and
the mart frames. (The streaming job, Kafka -> raw zone, is the `streaming` package.)"""
