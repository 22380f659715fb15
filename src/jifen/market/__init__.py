"""The points supermarket (积分超市): catalog, stock, sales, refunds, allied shops, reports."""
