from lrbench.cli import main

main()
