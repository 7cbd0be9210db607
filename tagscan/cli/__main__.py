from tagscan.cli.app import main

main()
