package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/devmode"
)

// devSeeder seeds `tera dev`'s database.
func devSeeder(ctx context.Context, pool *pgxpool.Pool, testData bool) (devmode.Credentials, error) {
	return devmode.Credentials{}, nil
}
