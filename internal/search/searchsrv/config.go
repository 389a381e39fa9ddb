package searchsrv

import (
	"path/filepath"
	"runtime"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// Config is the search service's configuration.
type Config struct {
	// Dir holds the index (SEARCH_DIR; default DATA_DIR/search).
	Dir string
	// ProductsURL is the products service the index is rebuilt from
	// (SEARCH_PRODUCTS_URL; in one process, the products listener).
	ProductsURL string
	// UsersURL is the users service the names of sellers' shops are read
	// from (SEARCH_USERS_URL). Empty: the index holds no shop names (for
	// tests without a users service).
	UsersURL string
	// ShopsInterval is how often the shops changed since the last read
	// are read (SEARCH_SHOPS_INTERVAL): how long a renamed shop's
	// products may still be found under the old name.
	ShopsInterval time.Duration
	Events        events.Config
	// Queue is the queue of product events this instance consumes
	// (SEARCH_QUEUE). Empty means one of its own, named after an id kept
	// in Dir: every instance holds a whole index and needs every event.
	Queue string
	// QueueExpires is how long the broker keeps an instance's queue after
	// it stopped consuming (SEARCH_QUEUE_EXPIRES). An instance back within
	// it finds the events it missed waiting; later, it catches up from the
	// products service.
	QueueExpires time.Duration
	// Consumers is how many deliveries are handled at once
	// (SEARCH_CONSUMERS); they share each index write.
	Consumers int
	// CheckInterval is how often the index is compared with the products
	// service (SEARCH_CHECK_INTERVAL); Settle is how long a check waits
	// for in-flight events (SEARCH_CHECK_SETTLE).
	CheckInterval time.Duration
	Settle        time.Duration
	// CategoriesInterval is how often the category tree is read
	// (SEARCH_CATEGORIES_INTERVAL).
	CategoriesInterval time.Duration
	// PageSize is how many products a rebuild indexes in one batch
	// (SEARCH_REBUILD_PAGE).
	PageSize int
	// MaxInFlight bounds the searches run at once (SEARCH_MAX_IN_FLIGHT;
	// default four per CPU). A search is CPU work from start to end: more
	// at once than the CPUs can run only makes each take longer, and
	// takes the CPU from every other request of the process. Past it a
	// search waits in the queue the other services have.
	MaxInFlight int
	JWKSURL     string
	Issuer      string
	Audience    string
}

// LoadConfig reads the SEARCH_* variables.
func LoadConfig(e *config.Env, sh config.Shared) Config {
	e.Describe(configDocs())
	c := Config{
		Dir:                e.String("SEARCH_DIR", filepath.Join(sh.DataDir, "search")),
		ProductsURL:        e.URL("SEARCH_PRODUCTS_URL", "http://localhost:8082", "http", "https"),
		UsersURL:           e.URL("SEARCH_USERS_URL", "http://localhost:8081", "http", "https"),
		ShopsInterval:      e.Duration("SEARCH_SHOPS_INTERVAL", 30*time.Second),
		Events:             events.Config{URL: sh.AMQPURL, Name: "search"},
		Queue:              e.String("SEARCH_QUEUE", ""),
		QueueExpires:       e.Duration("SEARCH_QUEUE_EXPIRES", 24*time.Hour),
		Consumers:          e.Int("SEARCH_CONSUMERS", 8, 1, 64),
		CheckInterval:      e.Duration("SEARCH_CHECK_INTERVAL", 10*time.Minute),
		Settle:             e.Duration("SEARCH_CHECK_SETTLE", 5*time.Second),
		CategoriesInterval: e.Duration("SEARCH_CATEGORIES_INTERVAL", 30*time.Second),
		PageSize:           e.Int("SEARCH_REBUILD_PAGE", 500, 1, 1000),
		MaxInFlight:        e.Int("SEARCH_MAX_IN_FLIGHT", 4*runtime.GOMAXPROCS(0), 1, 1<<20),
		JWKSURL:            sh.JWKSURL,
		Issuer:             sh.Issuer,
		Audience:           sh.Audience,
	}
	e.ShowDefault("SEARCH_DIR", "`DATA_DIR`/search")
	e.ShowDefault("SEARCH_MAX_IN_FLIGHT", "4 × `GOMAXPROCS`")
	e.ShowDefault("SEARCH_QUEUE", "`search.products.<id>`, the id kept in `SEARCH_DIR`")
	return c
}

func configDocs() config.Docs {
	return config.Docs{
		"SEARCH_DIR":                 "where the search index (Bleve files) and the instance's id are kept; deleting it rebuilds the index from the products service",
		"SEARCH_PRODUCTS_URL":        "the products service the index is built and checked from (its category tree and internal catalog reads)",
		"SEARCH_USERS_URL":           "the users service the names of sellers' shops are read from (its internal read of changed shops), so that a shop's name finds its products",
		"SEARCH_SHOPS_INTERVAL":      "how often the shops opened or renamed since the last read are read: how long a renamed shop's products may still be found under the old name",
		"SEARCH_QUEUE":               "the RabbitMQ queue of product events this instance consumes; each instance needs its own",
		"SEARCH_QUEUE_EXPIRES":       "how long the broker keeps an instance's queue after it stopped consuming; back later, the instance catches up from the products service",
		"SEARCH_CONSUMERS":           "product events handled at once; they share each index write",
		"SEARCH_CHECK_INTERVAL":      "how often the index is compared with the products service's summary, and caught up if behind",
		"SEARCH_CHECK_SETTLE":        "how long a check waits for events in flight before comparing",
		"SEARCH_CATEGORIES_INTERVAL": "how often the category tree is read (a listing naming a category not yet seen reads it at once)",
		"SEARCH_REBUILD_PAGE":        "products a rebuild indexes in one batch as it reads the catalog",
		"SEARCH_MAX_IN_FLIGHT":       "searches run at once (they are CPU work: more than a few per CPU only slows each); past it they wait in the queue `MAX_QUEUE` sizes",
	}
}
