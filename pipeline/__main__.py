from pipeline.cli import main

# Guarded: a spawned worker process (the extract stage's) imports the main module again.
if __name__ == "__main__":
    main()
