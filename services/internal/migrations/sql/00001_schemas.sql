-- +goose Up
-- One schema per owning target (ARCHITECTURE §5).
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS filetransfer;
CREATE SCHEMA IF NOT EXISTS logging;
