"""Spark batch computation of the lake's tables: the session, the lake's files as a data source (read and
written on the executors), reading committed inputs, the transforms and the mart frames. (The streaming job, Kafka -> raw zone, is the `streaming` package.)"""
