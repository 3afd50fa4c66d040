from paystream.cli import main

main()
