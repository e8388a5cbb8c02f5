from explorer.eval.cli import main

main()
